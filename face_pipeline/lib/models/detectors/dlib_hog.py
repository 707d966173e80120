"""dlib's HOG + linear SVM: fast on upright frontal faces; upsampling finds faces down to ~40 px."""

from __future__ import annotations

import numpy as np

from face_pipeline.lib.models.faces import DetectedFace, clip_box


class DlibHogDetector:
    name = "dlib-hog"
    licence = "public domain (dlib-bin, Boost code)"
    weight_files: tuple[str, ...] = ()
    summary = "dlib HOG, upright frontal faces (the face_recognition baseline)"

    def __init__(self, upsample: int = 1, adjust_threshold: float = 0.0):
        import dlib

        self._detector = dlib.get_frontal_face_detector()
        self.upsample = upsample
        self.adjust_threshold = adjust_threshold
        self.model_id = f"dlib-hog-up{upsample}" + (f"-t{adjust_threshold:g}" if adjust_threshold else "")

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        rects, scores, _ = self._detector.run(rgb, self.upsample, self.adjust_threshold)
        out = []
        for rect, score in zip(rects, scores, strict=True):
            box = clip_box(rect.left(), rect.top(), rect.right(), rect.bottom(), rgb.shape)
            if box:
                out.append(DetectedFace(box, float(score)))
        return out
