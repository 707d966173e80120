"""The original recipe's OpenCV Haar cascade, with the article's parameters."""

from __future__ import annotations

import numpy as np

from face_pipeline.lib.models.faces import DetectedFace, clip_box
from face_pipeline.lib.models.package_files import haar_cascade_path


class HaarDetector:
    name = "haar"
    licence = "BSD (OpenCV)"
    weight_files: tuple[str, ...] = ()
    summary = "OpenCV Haar cascade, the original recipe (many misses and false alarms)"

    def __init__(self, scale_factor: float = 1.05, min_neighbors: int = 2, min_size: int = 100):
        import cv2

        self._cascade = cv2.CascadeClassifier(haar_cascade_path())
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size
        self.model_id = f"haar-frontalface-default-sf{scale_factor:g}-mn{min_neighbors}-ms{min_size}"

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
