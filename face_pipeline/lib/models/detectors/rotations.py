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

The passes pay on few photos (4 of 162 WIDER and demo photos gain a face from them), so a detector can
run them only when the upright pass gives a reason (`when`, a `TurnedCandidate` rule): a face turned
sideways or upside down leaves weak candidates in the upright pass whose landmarks are turned too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from face_pipeline.lib.models.detectors.onnx_decoding import nms
from face_pipeline.lib.models.faces import DetectedFace, clip_box


def unrotate(face: DetectedFace, k: int, h: int, w: int) -> DetectedFace | None:
    """A face found on np.rot90(img, k) mapped back to img (h x w)."""
    pts = np.concatenate(
        [np.asarray(face.box, dtype=np.float64).reshape(2, 2), np.asarray(face.landmarks, dtype=np.float64)]
    )
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


def tilt_degrees(landmarks: np.ndarray) -> float:
    """How far a face is turned from upright, 0-180 degrees: the angle between the image's down and
    the face's (eye centres to mouth corners, five-point landmarks); 90 sideways, 180 upside down."""
    lm = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    down = (lm[3] + lm[4]) / 2 - (lm[0] + lm[1]) / 2
    return abs(math.degrees(math.atan2(down[0], down[1])))


@dataclass(frozen=True)
class TurnedCandidate:
    """Run the rotated passes when the upright pass has a candidate, scored at least `min_score`
    (far below what it reports), whose landmarks are turned more than `max_tilt` degrees from
    upright. Chosen on WIDER and the demo photos (BENCHMARKS.md, "Passes only where they pay"): it
    fires on 9 of 137 WIDER photos and 3 of 25 demo photos, and every demo face the passes find is
    found; it misses upside-down faces that the upright pass scores low with upright landmarks (2 of
    WIDER's 549 hits)."""

    min_score: float = 0.05
    max_tilt: float = 60.0

    @property
    def tag(self) -> str:
        return f"-iftilt{self.max_tilt:g}-c{self.min_score:g}"

    def fires(self, candidates: list[DetectedFace]) -> bool:
        return any(f.landmarks is not None and tilt_degrees(f.landmarks) > self.max_tilt for f in candidates)


class RotatedPassesDetector:
    """`upright` on the photo, `rotated` (the same model, often a smaller input) on the copies; with
    `when`, the copies only for photos where that rule fires on the upright pass's candidates."""

    def __init__(
        self,
        upright,
        rotated,
        *,
        turns: tuple[int, ...] = (1, 2, 3),
        upright_bonus: float = 0.05,
        merge_iou: float = 0.4,
        when: TurnedCandidate | None = None,
    ):
        self.upright, self.rotated = upright, rotated
        self.turns = turns
        self.upright_bonus = upright_bonus
        self.merge_iou = merge_iou
        self.when = when
        self.rotated_score = max(rotated.rotated_score_threshold, upright.score_threshold)
        self.model_id = (
            f"{upright.model_id}+rot{''.join(map(str, turns))}-s{rotated.max_side}"
            f"-t{self.rotated_score:g}-b{upright_bonus:g}{when.tag if when else ''}"
        )
        self.photos = self.rotated_photos = 0  # this process's count of photos, and of those turned

    @property
    def max_side(self) -> int | None:
        """The upright pass's input side (tiling.py cuts very wide photos to it)."""
        return getattr(self.upright, "max_side", None)

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        h, w = rgb.shape[:2]
        self.photos += 1
        if self.when is None:
            upright = self.upright.detect(rgb)
        else:
            # One network pass: the candidates above the rule's low score, of which those above the
            # detector's threshold are exactly what detect() returns (NMS keeps the higher score).
            candidates = self.upright.detect_at(rgb, min(self.when.min_score, self.upright.score_threshold))
            upright = [f for f in candidates if f.score >= self.upright.score_threshold]
            if not self.when.fires(candidates):
                return upright
        self.rotated_photos += 1
        found = [(f, f.score + self.upright_bonus) for f in upright]
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
