"""What every detector returns and every embedder reads: a face's box, score and five landmarks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

#: Landmark schemes. FIVE_POINT: image-left eye centre, image-right eye centre, nose tip, image-left
#: and image-right mouth corners (the ArcFace/InsightFace order; RetinaFace, YuNet and SCRFD give
#: it). DLIB5: dlib's shape_predictor_5 (two corners of each eye, then the base of the nose).
FIVE_POINT = "five-point"
DLIB5 = "dlib5"


@dataclass
class DetectedFace:
    """A face in the work image: box (left, top, right, bottom) in pixels, clipped to the image."""

    box: tuple[int, int, int, int]
    score: float
    landmarks: np.ndarray | None = None  # (5, 2) float32, x/y in work-image pixels
    landmark_scheme: str = ""  # FIVE_POINT or DLIB5 when landmarks are set

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)


def clip_box(l: float, t: float, r: float, b: float, shape) -> tuple[int, int, int, int] | None:
    """The box rounded and clipped to an image of `shape`; None when less than 4 px remain."""
    h, w = shape[:2]
    box = (max(0, int(round(l))), max(0, int(round(t))), min(w, int(round(r))), min(h, int(round(b))))
    if box[2] - box[0] < 4 or box[3] - box[1] < 4:
        return None
    return box


def iou(a, b) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    """`rgb` scaled by `scale` (bilinear), as a contiguous uint8 array."""
    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.ascontiguousarray(np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR)))


def largest_first(faces: list[DetectedFace]) -> list[DetectedFace]:
    """Faces ordered as the pipeline numbers them: largest first, then by position (stable ids)."""
    return sorted(faces, key=lambda f: (-f.area, f.box))
