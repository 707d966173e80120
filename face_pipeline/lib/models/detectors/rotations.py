"""Faces turned by 90, 180 or 270 degrees (astronauts floating, people lying down, a phone held
sideways without an orientation tag): the detector also runs on rotated copies of the photo, at a
smaller size and a stricter score (extra passes must not add false alarms), and the boxes and
landmarks found there are mapped back. Overlapping finds of one face are merged by score; the
upright pass gets `upright_bonus` because detectors also score an upright face seen upside down
highly, with its landmarks the wrong way round.

Landmarks stay in the model's anatomical order, so the aligned chip of a face found upside down is
upright. On the demo photos (65 faces labelled by hand) RetinaFace finds 64 instead of 58 this way
(63 with the two sideways turns only), for ~2.4x the time of one upright pass (103 ms against 43 ms a
WIDER photo: EVALUATION.md, "Detection: demo photos" and "Time per photo").
"""

from __future__ import annotations

import numpy as np

from face_pipeline.lib.models.detectors.onnx_decoding import nms
from face_pipeline.lib.models.faces import DetectedFace, clip_box


def unrotate(face: DetectedFace, k: int, h: int, w: int) -> DetectedFace | None:
    """A face found on np.rot90(img, k) mapped back to img (h x w)."""
    pts = np.concatenate([np.asarray(face.box, dtype=np.float64).reshape(2, 2),
                          np.asarray(face.landmarks, dtype=np.float64)])
    x, y = pts[:, 0].copy(), pts[:, 1].copy()
    if k == 1:  # rot90 counter-clockwise: img (x, y) -> (y, w - x)
        pts[:, 0], pts[:, 1] = w - y, x
    elif k == 2:
        pts[:, 0], pts[:, 1] = w - x, h - y
    elif k == 3:
        pts[:, 0], pts[:, 1] = y, h - x
    corners = pts[:2]
    box = clip_box(corners[:, 0].min(), corners[:, 1].min(), corners[:, 0].max(), corners[:, 1].max(), (h, w))
    if box is None:
        return None
    return DetectedFace(box, face.score, pts[2:].astype(np.float32), face.landmark_scheme)


class RotatedPassesDetector:
    """`upright` on the photo, `rotated` (the same model, often a smaller input) on the copies."""

    def __init__(self, upright, rotated, *, turns: tuple[int, ...] = (1, 2, 3), upright_bonus: float = 0.05,
                 merge_iou: float = 0.4):
        self.upright, self.rotated = upright, rotated
        self.turns = turns
        self.upright_bonus = upright_bonus
        self.merge_iou = merge_iou
        self.rotated_score = max(rotated.rotated_score_threshold, upright.score_threshold)
        self.model_id = (f"{upright.model_id}+rot{''.join(map(str, turns))}-s{rotated.max_side}"
                         f"-t{self.rotated_score:g}-b{upright_bonus:g}")

    @property
    def max_side(self) -> int | None:
        """The upright pass's input side (tiling.py cuts very wide photos to it)."""
        return getattr(self.upright, "max_side", None)

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        h, w = rgb.shape[:2]
        found = [(f, f.score + self.upright_bonus) for f in self.upright.detect(rgb)]
        for k in self.turns:
            turned = np.ascontiguousarray(np.rot90(rgb, k))
            for f in self.rotated.detect_at(turned, self.rotated_score):
                back = unrotate(f, k, h, w)
                if back is not None:
                    found.append((back, back.score))
        if not found:
            return []
        boxes = np.array([f.box for f, _ in found], dtype=np.float64)
        ranks = np.array([r for _, r in found], dtype=np.float64)
        return [found[i][0] for i in nms(boxes, ranks, self.merge_iou)]
