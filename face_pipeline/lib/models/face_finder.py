"""Detect the faces of one image, each with five landmarks, in the order the pipeline numbers them."""

from __future__ import annotations

import numpy as np

from face_pipeline.lib.models.detectors.dlib_landmarks import dlib_landmarker
from face_pipeline.lib.models.faces import DetectedFace, largest_first
from face_pipeline.lib.models.interfaces import FaceDetector
from face_pipeline.lib.models.tiling import detect_tiled


def find_faces(rgb: np.ndarray, detector: FaceDetector) -> list[DetectedFace]:
    """Faces with landmarks (the detector's own, or dlib's five points for detectors that give none),
    largest first. Very wide or tall photos are also searched in tiles (tiling.py)."""
    faces = detect_tiled(rgb, detector)
    if any(f.landmarks is None for f in faces):
        dlib_landmarker().add_landmarks(rgb, faces)
    return largest_first(faces)
