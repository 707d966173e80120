"""Very wide or tall photos (panoramas, group rows, long strips) are also searched tile by tile.

A detector that takes the whole photo shrinks its long side to its input size (1024 for RetinaFace):
a 16000 x 2400 panorama, already shrunk to a 4382 x 657 work image (decode.work_scale), would be fed
as 1024 x 154 and a 229 px face would shrink to 15 px, below what any detector finds. Such photos
are cut along their long side into overlapping tiles as long as the detector's input side (the full
short side high), each run at its own scale, and the boxes of every tile and of the whole-photo pass
are merged by non-maximum suppression.

Only photos with a long side over the detector's input and an aspect ratio over TILE_ASPECT (2.5:1)
are tiled: every camera format (4:3, 3:2, 16:9, 2:1) is detected exactly as before, at no cost.
"""

from __future__ import annotations

import numpy as np

from face_pipeline.lib.models.detectors.onnx_decoding import nms
from face_pipeline.lib.models.faces import DetectedFace
from face_pipeline.lib.models.interfaces import FaceDetector

#: Longest / shortest side above which a photo is also searched in tiles.
TILE_ASPECT = 2.5
#: The tiles' and the whole pass's finds of one face are merged above this overlap.
MERGE_IOU = 0.4
#: A face within this many pixels of an inner tile edge is cut by it; the neighbour tile has it whole.
EDGE_PX = 2


def input_side(detector: FaceDetector) -> int | None:
    """The long side a detector shrinks its input to; None for detectors that scan any size."""
    return getattr(detector, "max_side", None)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Starts of tiles `tile` long covering 0..length, neighbours overlapping by `overlap` or more."""
    if length <= tile:
        return [0]
    step = max(1, tile - overlap)
    starts = list(range(0, length - tile, step))
    return [*starts, length - tile]


def needs_tiles(shape: tuple[int, ...], detector: FaceDetector) -> bool:
    side = input_side(detector)
    h, w = shape[:2]
    return side is not None and max(h, w) > side and max(h, w) / max(1, min(h, w)) > TILE_ASPECT


def detect_tiled(rgb: np.ndarray, detector: FaceDetector) -> list[DetectedFace]:
    """The detector's faces of `rgb`, from tiles as well when the photo is very wide or tall."""
    if not needs_tiles(rgb.shape, detector):
        return detector.detect(rgb)
    h, w = rgb.shape[:2]
    across = w >= h  # tiles follow the long side
    length, short = (w, h) if across else (h, w)
    tile = max(int(input_side(detector)), short)
    # A face up to half the short side fits whole in some tile; larger ones are found by the whole pass.
    overlap = min(short, tile) // 2
    found = list(detector.detect(rgb))  # faces as tall as the photo
    for start in tile_starts(length, tile, overlap):
        part = np.ascontiguousarray(rgb[:, start : start + tile] if across else rgb[start : start + tile])
        for face in detector.detect(part):
            lo, hi = (face.box[0], face.box[2]) if across else (face.box[1], face.box[3])
            if (start > 0 and lo <= EDGE_PX) or (start + tile < length and hi >= tile - EDGE_PX):
                continue
            found.append(_shifted(face, start if across else 0, 0 if across else start))
    if not found:
        return []
    boxes = np.array([f.box for f in found], dtype=np.float64)
    scores = np.array([f.score for f in found], dtype=np.float64)
    return [found[i] for i in nms(boxes, scores, MERGE_IOU)]


def _shifted(face: DetectedFace, dx: int, dy: int) -> DetectedFace:
    l, t, r, b = face.box
    landmarks = None if face.landmarks is None else (face.landmarks + np.float32([dx, dy])).astype(np.float32)
    return DetectedFace((l + dx, t + dy, r + dx, b + dy), face.score, landmarks, face.landmark_scheme)
