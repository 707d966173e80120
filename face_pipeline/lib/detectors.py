"""Face detectors, chosen by name, each with a stable `model_id` stored with every face it finds.

A detector only returns boxes and scores. Landmarks (for alignment) come from one shared
5-point landmarker run on every box, so any detector can feed the aligned embedder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Protocol

import numpy as np

from face_pipeline.lib.model_files import dlib_model_path, haar_cascade_path


@dataclass
class DetectedFace:
    """A face in the work image: box (left, top, right, bottom) in pixels, clipped to the image."""

    box: tuple[int, int, int, int]
    score: float
    landmarks: np.ndarray | None = None  # (5, 2) float32, x/y in work-image pixels

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)


class FaceDetector(Protocol):
    name: str
    model_id: str

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]: ...


def _clip_box(l: float, t: float, r: float, b: float, shape) -> tuple[int, int, int, int] | None:
    h, w = shape[:2]
    box = (max(0, int(round(l))), max(0, int(round(t))), min(w, int(round(r))), min(h, int(round(b))))
    if box[2] - box[0] < 4 or box[3] - box[1] < 4:
        return None
    return box


class DlibHogDetector:
    """dlib's HOG + linear SVM: fast, frontal faces; upsampling finds faces down to ~40 px."""

    name = "dlib-hog"

    def __init__(self, upsample: int = 1, adjust_threshold: float = 0.0):
        import dlib

        self._detector = dlib.get_frontal_face_detector()
        self.upsample = upsample
        self.adjust_threshold = adjust_threshold
        self.model_id = f"dlib-hog-up{upsample}" + (f"-t{adjust_threshold:g}" if adjust_threshold else "")

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        rects, scores, _ = self._detector.run(rgb, self.upsample, self.adjust_threshold)
        out = []
        for rect, score in zip(rects, scores, strict=True):
            box = _clip_box(rect.left(), rect.top(), rect.right(), rect.bottom(), rgb.shape)
            if box:
                out.append(DetectedFace(box, float(score)))
        return out


class DlibCnnDetector:
    """dlib's MMOD CNN: more robust to pose and blur, ~1 s per 512x512 image on one core."""

    name = "dlib-cnn"

    def __init__(self, upsample: int = 0):
        import dlib

        self._detector = dlib.cnn_face_detection_model_v1(dlib_model_path("mmod_human_face_detector.dat"))
        self.upsample = upsample
        self.model_id = f"dlib-mmod-up{upsample}"

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        out = []
        for det in self._detector(rgb, self.upsample):
            r = det.rect
            box = _clip_box(r.left(), r.top(), r.right(), r.bottom(), rgb.shape)
            if box:
                out.append(DetectedFace(box, float(det.confidence)))
        return out


class HaarDetector:
    """The original recipe's OpenCV Haar cascade, with the article's parameters."""

    name = "haar"

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
            box = _clip_box(x, y, x + w, y + h, rgb.shape)
            if box:
                out.append(DetectedFace(box, float(weight)))
        return out


class Landmarker:
    """dlib's 5-point shape predictor (eye corners and nose), the input of `get_face_chip` alignment."""

    model_id = "dlib-shape5"

    def __init__(self):
        import dlib

        self._predictor = dlib.shape_predictor(dlib_model_path("shape_predictor_5_face_landmarks.dat"))

    def add_landmarks(self, rgb: np.ndarray, faces: list[DetectedFace]) -> list[DetectedFace]:
        import dlib

        for face in faces:
            shape = self._predictor(rgb, dlib.rectangle(*face.box))
            face.landmarks = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
        return faces


DETECTORS: dict[str, Callable[[], FaceDetector]] = {
    "dlib-hog": DlibHogDetector,
    "dlib-cnn": DlibCnnDetector,
    "haar": HaarDetector,
}


class UnknownModel(ValueError):
    pass


@cache
def get_detector(name: str) -> FaceDetector:
    """The detector registered under `name`, loaded once per process."""
    try:
        factory = DETECTORS[name]
    except KeyError:
        raise UnknownModel(f"unknown detector {name!r}; choose one of {sorted(DETECTORS)}") from None
    return factory()


@cache
def get_landmarker() -> Landmarker:
    return Landmarker()


def find_faces(rgb: np.ndarray, detector: FaceDetector) -> list[DetectedFace]:
    """Detect faces and add 5-point landmarks, largest face first."""
    faces = detector.detect(rgb)
    faces = get_landmarker().add_landmarks(rgb, faces)
    faces.sort(key=lambda f: (-f.area, f.box))
    return faces
