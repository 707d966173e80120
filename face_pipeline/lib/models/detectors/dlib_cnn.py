"""dlib's MMOD CNN: more robust to pose and blur than HOG, ~1 s per 512x512 image on one core."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from face_pipeline.lib.models.card import ModelCard
from face_pipeline.lib.models.detectors.dlib_landmarks import SHAPE5
from face_pipeline.lib.models.faces import DetectedFace, clip_box
from face_pipeline.lib.models.package_files import FACE_RECOGNITION_MODELS, PackagedFile

MMOD = PackagedFile(
    "mmod_human_face_detector.dat",
    FACE_RECOGNITION_MODELS,
    "0.3.0",
    "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
    "public domain (face_recognition_models)",
)


class DlibCnnDetector:
    def __init__(self, weights: Path, upsample: int = 0):
        self.weights = weights
        self.upsample = upsample
        self.model_id = f"dlib-mmod-up{upsample}"

    @cached_property
    def _detector(self):
        import dlib

        return dlib.cnn_face_detection_model_v1(str(self.weights))

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        out = []
        for det in self._detector(rgb, self.upsample):
            r = det.rect
            box = clip_box(r.left(), r.top(), r.right(), r.bottom(), rgb.shape)
            if box:
                out.append(DetectedFace(box, float(det.confidence)))
        return out


CARD = ModelCard(
    name="dlib-cnn",
    kind="detector",
    model_id="dlib-mmod-up0",
    licence="public domain (face_recognition_models)",
    input_size="the photo at its own size",
    summary="dlib MMOD CNN, slow",
    evidence="not measured by the harness (minutes a WIDER photo on a CPU: test_models skips it); ~1 s per "
    "512x512 image on one core; dlib-hog-plus runs it on small copies as its second pass",
    files=(MMOD, SHAPE5),
    factory=lambda files, **params: DlibCnnDetector(files.path(MMOD), **params),
)
