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

from face_pipeline.lib.errors import ConfigError
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


class DlibHogPlusDetector:
    """HOG, plus two cheap second looks for the faces plain HOG misses in event photos.

    On WIDER event photos (EVALUATION.md) HOG's misses are mostly faces that are tilted or turned,
    many of them large. So, besides HOG on the photo (upsampling 1, faces from ~40 px):
    - HOG on copies rotated by `rotations` degrees (tilted heads: couples, dancing, children),
      on a copy at most `rotation_side` px long so the cost stays bounded on large photos; those
      faces get their landmarks in the rotated copy, so their chips are aligned upright;
    - dlib's MMOD CNN, robust to pose but ~20x slower than HOG, on a copy at most `cnn_side` px
      long, only when the HOG passes found at most `second_pass_below` faces.
    A box from a later pass is kept where no earlier box overlaps it (IoU >= `merge_iou`).
    """

    name = "dlib-hog-plus"

    def __init__(self, upsample: int = 1, rotations: tuple[float, ...] = (-25.0, 25.0), rotation_side: int = 640,
                 cnn_side: int = 640, second_pass_below: int = 0, merge_iou: float = 0.3):
        self.hog = DlibHogDetector(upsample=upsample)
        self.rotations = tuple(rotations)
        self.rotation_side = rotation_side
        self.cnn_side = cnn_side
        self.second_pass_below = second_pass_below
        self.merge_iou = merge_iou
        self._cnn = None
        rot = ("-rot" + "_".join(f"{a:g}" for a in self.rotations) + f"-s{rotation_side}") if self.rotations else ""
        cnn = f"+mmod{cnn_side}-below{second_pass_below}" if cnn_side > 0 else ""
        self.model_id = f"{self.hog.model_id}{rot}{cnn}"

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        faces = self.hog.detect(rgb)
        h, w = rgb.shape[:2]
        if self.rotations:
            scale = min(1.0, self.rotation_side / max(h, w))
            base = rgb if scale == 1.0 else _resize(rgb, scale)
            for angle in self.rotations:
                for face in self._rotated_pass(base, angle, scale, rgb.shape):
                    self._add(faces, face)
        if self.cnn_side > 0 and len(faces) <= self.second_pass_below:
            for face in self._cnn_pass(rgb):
                self._add(faces, face)
        return faces

    def _add(self, faces: list[DetectedFace], face: DetectedFace) -> None:
        if all(_iou(face.box, f.box) < self.merge_iou for f in faces):
            faces.append(face)

    def _rotated_pass(self, base: np.ndarray, angle: float, scale: float, shape) -> list[DetectedFace]:
        import cv2

        h, w = base.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        cos, sin = abs(m[0, 0]), abs(m[0, 1])
        nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)
        m[0, 2] += nw / 2 - w / 2
        m[1, 2] += nh / 2 - h / 2
        turned = cv2.warpAffine(base, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        found = self.hog.detect(turned)
        if not found:
            return []
        get_landmarker().add_landmarks(turned, found)
        back = cv2.invertAffineTransform(m) / scale  # rotated copy -> photo pixels
        out = []
        for f in found:
            cx, cy = (f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2
            ox, oy = back[:, :2] @ (cx, cy) + back[:, 2]
            half = f.width / scale / 2
            box = _clip_box(ox - half, oy - half, ox + half, oy + half, shape)
            if box is None:
                continue
            pts = f.landmarks @ back[:, :2].T + back[:, 2]
            out.append(DetectedFace(box, f.score, pts.astype(np.float32)))
        return out

    def _cnn_pass(self, rgb: np.ndarray) -> list[DetectedFace]:
        if self._cnn is None:
            self._cnn = get_detector("dlib-cnn")
        h, w = rgb.shape[:2]
        scale = min(1.0, self.cnn_side / max(h, w))
        small = rgb if scale == 1.0 else _resize(rgb, scale)
        out = []
        for f in self._cnn.detect(small):
            box = _clip_box(f.box[0] / scale, f.box[1] / scale, f.box[2] / scale, f.box[3] / scale, rgb.shape)
            if box:
                out.append(DetectedFace(box, f.score))
        return out


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    from PIL import Image

    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.ascontiguousarray(np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR)))


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


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
            if face.landmarks is not None:
                continue  # placed by the detector itself (e.g. found in a rotated copy)
            shape = self._predictor(rgb, dlib.rectangle(*face.box))
            face.landmarks = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
        return faces


DETECTORS: dict[str, Callable[[], FaceDetector]] = {
    "dlib-hog": DlibHogDetector,
    "dlib-cnn": DlibCnnDetector,
    "dlib-hog-plus": DlibHogPlusDetector,
    "haar": HaarDetector,
}


class UnknownModel(ConfigError):
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
