"""dlib's ResNet-34 face descriptor (128-d, euclidean), on dlib's own 150x150 aligned chips."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from face_pipeline.lib.models.card import LFW_EVIDENCE, ModelCard
from face_pipeline.lib.models.detectors.dlib_landmarks import SHAPE5, dlib_landmarker
from face_pipeline.lib.models.faces import DLIB5, DetectedFace
from face_pipeline.lib.models.interfaces import Metric, logistic
from face_pipeline.lib.models.package_files import FACE_RECOGNITION_MODELS, PackagedFile

LICENCE = "public domain (face_recognition_models)"
WEIGHTS = PackagedFile(
    "dlib_face_recognition_resnet_model_v1.dat",
    FACE_RECOGNITION_MODELS,
    "0.3.0",
    "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    LICENCE,
)


class DlibResnetEmbedder:
    """99.38 % on LFW pairs in its authors' test; the face_recognition baseline's model."""

    model_id = "dlib-resnet-v1"
    plain_model_id = "dlib-resnet-v1"  # the two variants embed_views gives in one pass
    flip_model_id = "dlib-resnet-v1-flip"
    dim = 128
    metric: Metric = "l2"
    crop_kind = "chip150"
    chip_size = 150
    chip_padding = 0.25
    # Operating point and confidence calibration, measured by `python -m face_pipeline.evaluation`
    # (EVALUATION.md) with the library's search (mean-distance enrolment, query expansion):
    # default_threshold maximises min(mean precision, mean recall) of photo-level retrieval on the
    # LFW dev data (a two-fold split over identities picks 0.52 / 0.53); the confidence is the
    # logistic fitted (Platt) to the right/wrong share of the candidates a lookup returns there.
    default_threshold = 0.53
    conf_midpoint = 0.50
    conf_scale = 0.02
    # Two faces closer than this are linked into one person (lib/people); calibrated by the harness
    # (EVALUATION.md, people section) for BCubed precision on the dev sets.
    link_threshold = 0.42

    def __init__(self, weights: Path):
        self.weights = weights

    @cached_property
    def _model(self):
        """dlib's network, read on the first embedding."""
        import dlib

        return dlib.face_recognition_model_v1(str(self.weights))

    def crop(self, rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
        """dlib's chip, aligned on dlib's five points (found in the box when the detector gave others)."""
        import dlib

        points = face.landmarks if face.landmark_scheme == DLIB5 else dlib_landmarker().points(rgb, face.box)
        rect = dlib.rectangle(*face.box)
        shape = dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in points])
        return np.asarray(dlib.get_face_chip(rgb, shape, size=self.chip_size, padding=self.chip_padding))

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        return self._descriptors(crops)

    def _descriptors(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.dim), dtype=np.float32)
        chips = [np.ascontiguousarray(c, dtype=np.uint8) for c in crops]
        vectors = self._model.compute_face_descriptor(chips)
        return np.asarray([np.asarray(v) for v in vectors], dtype=np.float32)

    def embed_views(self, crops: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Vectors of both dlib ResNet variants from one network pass over each chip and its mirror
        image, keyed by model_id (the evaluation harness compares variants without paying twice)."""
        both = self._descriptors([*crops, *(c[:, ::-1] for c in crops)])
        plain, mirrored = both[: len(crops)], both[len(crops) :]
        return {self.plain_model_id: plain, self.flip_model_id: mean_of_views(plain, mirrored)}

    def confidence(self, distance: float) -> float:
        return logistic(distance, self.conf_midpoint, self.conf_scale)


def mean_of_views(plain: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
    return ((plain.astype(np.float64) + mirrored) / 2.0).astype(np.float32)


class DlibResnetFlipEmbedder(DlibResnetEmbedder):
    """dlib ResNet with flip test-time augmentation: the mean of the descriptors of the aligned chip
    and of its mirror image. A face's left and right halves then count alike, which makes turned
    faces and one-sided lighting less decisive; it costs a second network pass per face.

    Its vectors differ from dlib-resnet-v1's, hence its own model_id (never compare the two).
    """

    model_id = "dlib-resnet-v1-flip"
    # Measured like dlib-resnet-v1's (EVALUATION.md, run with --embedder dlib-resnet-v1-flip).
    default_threshold = 0.52
    conf_midpoint = 0.49
    conf_scale = 0.02

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.embed_views(crops)[self.model_id]


CARD = ModelCard(
    name="dlib-resnet-v1",
    kind="embedder",
    model_id="dlib-resnet-v1",
    crop_kind=DlibResnetEmbedder.crop_kind,
    licence=LICENCE,
    input_size="150x150 dlib face chip (padding 0.25) aligned on dlib's five points",
    summary="dlib ResNet-34, 128-d, euclidean",
    evidence=f"{LFW_EVIDENCE}: precision 0.911, recall 0.927 at 0.53; 99.38 % on LFW pairs in its authors' test",
    files=(WEIGHTS, SHAPE5),
    factory=lambda files: DlibResnetEmbedder(files.path(WEIGHTS)),
)
FLIP_CARD = ModelCard(
    name="dlib-resnet-v1-flip",
    kind="embedder",
    model_id="dlib-resnet-v1-flip",
    crop_kind=DlibResnetFlipEmbedder.crop_kind,
    licence=LICENCE,
    input_size="150x150 dlib face chip and its mirror image",
    summary="dlib ResNet with flip test-time augmentation, 128-d, euclidean (2 passes per face)",
    evidence=f"{LFW_EVIDENCE}: precision 0.904, recall 0.938 at 0.52",
    files=(WEIGHTS, SHAPE5),
    factory=lambda files: DlibResnetFlipEmbedder(files.path(WEIGHTS)),
)
