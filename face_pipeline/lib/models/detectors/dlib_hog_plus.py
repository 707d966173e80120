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

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from face_pipeline.lib.models.card import ModelCard
from face_pipeline.lib.models.detectors.dlib_cnn import MMOD, DlibCnnDetector
from face_pipeline.lib.models.detectors.dlib_hog import DlibHogDetector
from face_pipeline.lib.models.detectors.dlib_landmarks import SHAPE5, dlib_landmarker
from face_pipeline.lib.models.faces import DLIB5, DetectedFace, clip_box, iou, resize


class DlibHogPlusDetector:
    def __init__(
        self,
        mmod_weights: Path,
        upsample: int = 1,
        rotations: tuple[float, ...] = (-25.0, 25.0),
        rotation_side: int = 640,
        cnn_side: int = 640,
        second_pass_below: int = 0,
        merge_iou: float = 0.3,
    ):
        self.mmod_weights = mmod_weights
        self.hog = DlibHogDetector(upsample=upsample)
        self.rotations = tuple(rotations)
        self.rotation_side = rotation_side
        self.cnn_side = cnn_side
        self.second_pass_below = second_pass_below
        self.merge_iou = merge_iou
        self._cnn: DlibCnnDetector | None = None
        rot = ("-rot" + "_".join(f"{a:g}" for a in self.rotations) + f"-s{rotation_side}") if self.rotations else ""
        cnn = f"+mmod{cnn_side}-below{second_pass_below}" if cnn_side > 0 else ""
        self.model_id = f"{self.hog.model_id}{rot}{cnn}"

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        faces = self.hog.detect(rgb)
        h, w = rgb.shape[:2]
        if self.rotations:
            scale = min(1.0, self.rotation_side / max(h, w))
            base = rgb if scale == 1.0 else resize(rgb, scale)
            for angle in self.rotations:
                for face in self._rotated_pass(base, angle, scale, rgb.shape):
                    self._add(faces, face)
        if self.cnn_side > 0 and len(faces) <= self.second_pass_below:
            for face in self._cnn_pass(rgb):
                self._add(faces, face)
        return faces

    def _add(self, faces: list[DetectedFace], face: DetectedFace) -> None:
        if all(iou(face.box, f.box) < self.merge_iou for f in faces):
            faces.append(face)

    def _rotated_pass(self, base: np.ndarray, angle: float, scale: float, shape) -> list[DetectedFace]:
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
        dlib_landmarker().add_landmarks(turned, found)
        back = cv2.invertAffineTransform(m) / scale  # rotated copy -> photo pixels
        out = []
        for f in found:
            cx, cy = (f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2
            ox, oy = back[:, :2] @ (cx, cy) + back[:, 2]
            half = f.width / scale / 2
            box = clip_box(ox - half, oy - half, ox + half, oy + half, shape)
            if box is None:
                continue
            pts = f.landmarks @ back[:, :2].T + back[:, 2]
            out.append(DetectedFace(box, f.score, pts.astype(np.float32), DLIB5))
        return out

    def _cnn_pass(self, rgb: np.ndarray) -> list[DetectedFace]:
        if self._cnn is None:
            self._cnn = DlibCnnDetector(self.mmod_weights)
        h, w = rgb.shape[:2]
        scale = min(1.0, self.cnn_side / max(h, w))
        small = rgb if scale == 1.0 else resize(rgb, scale)
        out = []
        for f in self._cnn.detect(small):
            box = clip_box(f.box[0] / scale, f.box[1] / scale, f.box[2] / scale, f.box[3] / scale, rgb.shape)
            if box:
                out.append(DetectedFace(box, f.score))
        return out


CARD = ModelCard(
    name="dlib-hog-plus",
    kind="detector",
    model_id="dlib-hog-up1-rot-25_25-s640+mmod640-below0",
    licence="public domain (dlib-bin, face_recognition_models)",
    input_size="the photo at its own size (HOG), copies of at most 640 px (rotated HOG passes, MMOD)",
    summary="dlib HOG + rotated passes + MMOD fallback: better recall than HOG, ~3x slower",
    evidence="WIDER dev photos: recall 0.791 at precision 0.976, 925 ms a photo; demo photos 49 of 65 faces "
    "(EVALUATION.md, 'Detection')",
    files=(MMOD, SHAPE5),
    factory=lambda files, **params: DlibHogPlusDetector(files.path(MMOD), **params),
)
