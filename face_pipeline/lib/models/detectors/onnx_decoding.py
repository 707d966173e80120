"""What the ONNX detectors share: sizing the network input, non-maximum suppression, and mapping
boxes and five-point landmarks back to the caller's image."""

from __future__ import annotations

import cv2
import numpy as np

from face_pipeline.lib.models.faces import FIVE_POINT, DetectedFace, clip_box


def fit_scale(h: int, w: int, max_side: int | None) -> float:
    """The scale that brings the long side down to `max_side` (never up); None = native size."""
    if max_side is None or max(h, w) <= max_side:
        return 1.0
    return max_side / float(max(h, w))


def resize_by(img: np.ndarray, scale: float) -> np.ndarray:
    """`img` resized by `scale` (whole pixels); INTER_AREA when shrinking (anti-aliased)."""
    if scale == 1.0:
        return img
    h, w = img.shape[:2]
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    return cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR)


def ceil_to(n: int, m: int) -> int:
    return -(-n // m) * m


def padded_network_input(rgb: np.ndarray, max_side: int, normalise, fill: float) -> tuple[np.ndarray, float]:
    """The NCHW float32 input of a detector that takes any size: the photo shrunk to `max_side`,
    `normalise`d, padded bottom/right with `fill` to multiples of 32 (every feature map then has
    exactly ceil(side / stride) cells); and the scale applied."""
    check_rgb(rgb)
    scale = fit_scale(rgb.shape[0], rgb.shape[1], max_side)
    img = resize_by(rgb, scale)
    h, w = img.shape[:2]
    blob = np.full((ceil_to(h, 32), ceil_to(w, 32), 3), fill, dtype=np.float32)
    blob[:h, :w] = normalise(img)
    return np.ascontiguousarray(blob.transpose(2, 0, 1)[None]), scale


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression: kept indices, highest score first (ties by index, so the
    result is deterministic)."""
    if len(boxes) == 0:
        return np.zeros((0,), dtype=np.int64)
    boxes = boxes.astype(np.float64, copy=False)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(0.0, x2 - x1) * np.maximum(0.0, y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        iw = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        ih = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = iw * ih
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[overlap <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def to_faces(
    boxes: np.ndarray, scores: np.ndarray, points: np.ndarray, scale: float, shape: tuple[int, ...]
) -> list[DetectedFace]:
    """Network-input coordinates -> faces in the caller's image (boxes clipped, landmarks not)."""
    inv = 1.0 / scale
    out = []
    for b, s, k in zip(boxes, scores, points, strict=True):
        box = clip_box(b[0] * inv, b[1] * inv, b[2] * inv, b[3] * inv, shape)
        if box is not None:
            out.append(DetectedFace(box, float(s), (k.reshape(5, 2) * inv).astype(np.float32), FIVE_POINT))
    return out


def check_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(
            f"expected an HxWx3 uint8 RGB array, got {getattr(rgb, 'shape', None)} {getattr(rgb, 'dtype', type(rgb))}"
        )
