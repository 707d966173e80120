"""The original recipe's OpenCV Haar cascade, with the article's parameters."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from face_pipeline.lib.models.card import ModelCard
from face_pipeline.lib.models.detectors.dlib_landmarks import SHAPE5
from face_pipeline.lib.models.faces import DetectedFace, clip_box
from face_pipeline.lib.models.package_files import OPENCV, PackagedFile

FRONTALFACE = PackagedFile(
    "haarcascade_frontalface_default.xml",
    OPENCV,
    "4.14.0.94",
    "0f7d4527844eb514d4a4948e822da90fbb16a34a0bbbbc6adc6498747a5aafb0",
    "BSD (OpenCV)",
)


class HaarDetector:
    def __init__(self, cascade: Path, scale_factor: float = 1.05, min_neighbors: int = 2, min_size: int = 100):
        self.cascade = cascade
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size
        self.model_id = f"haar-frontalface-default-sf{scale_factor:g}-mn{min_neighbors}-ms{min_size}"

    @cached_property
    def _cascade(self):
        import cv2

        return cv2.CascadeClassifier(str(self.cascade))

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        import cv2

        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        boxes, _, weights = self._cascade.detectMultiScale3(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size),
            outputRejectLevels=True,
        )
        out = []
        for (x, y, w, h), weight in zip(boxes, weights, strict=False):
            box = clip_box(x, y, x + w, y + h, rgb.shape)
            if box:
                out.append(DetectedFace(box, float(weight)))
        return out


CARD = ModelCard(
    name="haar",
    kind="detector",
    model_id="haar-frontalface-default-sf1.05-mn2-ms100",
    licence="BSD (OpenCV)",
    input_size="the photo at its own size, faces from 100 px",
    summary="OpenCV Haar cascade, the original recipe (many misses and false alarms)",
    evidence="WIDER dev photos: recall 0.310 at precision 0.472, 148 ms a photo; demo photos 17 of 65 faces "
    "(EVALUATION.md, 'Detection')",
    files=(FRONTALFACE, SHAPE5),
    factory=lambda files, **params: HaarDetector(files.path(FRONTALFACE), **params),
)
