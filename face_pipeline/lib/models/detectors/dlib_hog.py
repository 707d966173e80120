"""dlib's HOG + linear SVM: fast on upright frontal faces; upsampling finds faces down to ~40 px."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from face_pipeline.lib.models.card import ModelCard
from face_pipeline.lib.models.detectors.dlib_landmarks import SHAPE5
from face_pipeline.lib.models.faces import DetectedFace, clip_box


class DlibHogDetector:
    def __init__(self, upsample: int = 1, adjust_threshold: float = 0.0):
        self.upsample = upsample
        self.adjust_threshold = adjust_threshold
        self.model_id = f"dlib-hog-up{upsample}" + (f"-t{adjust_threshold:g}" if adjust_threshold else "")

    @cached_property
    def _detector(self):
        import dlib

        return dlib.get_frontal_face_detector()

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        rects, scores, _ = self._detector.run(rgb, self.upsample, self.adjust_threshold)
        out = []
        for rect, score in zip(rects, scores, strict=True):
            box = clip_box(rect.left(), rect.top(), rect.right(), rect.bottom(), rgb.shape)
            if box:
                out.append(DetectedFace(box, float(score)))
        return out


CARD = ModelCard(
    name="dlib-hog",
    kind="detector",
    model_id="dlib-hog-up1",
    licence="public domain (dlib-bin, Boost code)",
    input_size="the photo at its own size, upsampled once (faces from ~40 px)",
    summary="dlib HOG, upright frontal faces (the face_recognition baseline)",
    evidence="WIDER dev photos: recall 0.725 at precision 0.977, 286 ms a photo; demo photos 48 of 65 faces "
    "(EVALUATION.md, 'Detection')",
    files=(SHAPE5,),  # its faces get dlib's five landmarks
    factory=lambda files, **params: DlibHogDetector(**params),
)
