"""dlib's 5-point shape predictor: landmarks for detectors that give none (HOG, MMOD, Haar), and the
points dlib's own face chips are aligned on."""

from __future__ import annotations

from functools import cache

import numpy as np

from face_pipeline.lib.models.faces import DLIB5, DetectedFace
from face_pipeline.lib.models.package_files import (
    FACE_RECOGNITION_MODELS,
    PackagedFile,
    packaged_path,
)

# Not a model one selects: the cards of the models that need it list it among their files.
SHAPE5 = PackagedFile(
    "shape_predictor_5_face_landmarks.dat",
    FACE_RECOGNITION_MODELS,
    "0.3.0",
    "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    "public domain (face_recognition_models)",
)


class DlibLandmarker:
    model_id = "dlib-shape5"

    def __init__(self):
        import dlib

        self._predictor = dlib.shape_predictor(str(packaged_path(SHAPE5, self.model_id)))

    def points(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        import dlib

        shape = self._predictor(rgb, dlib.rectangle(*box))
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)

    def add_landmarks(self, rgb: np.ndarray, faces: list[DetectedFace]) -> list[DetectedFace]:
        """Give every face without landmarks dlib's five points (faces that have some keep them)."""
        for face in faces:
            if face.landmarks is None:
                face.landmarks = self.points(rgb, face.box)
                face.landmark_scheme = DLIB5
        return faces


@cache
def dlib_landmarker() -> DlibLandmarker:
    return DlibLandmarker()
