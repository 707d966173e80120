"""The models, by name: one line each. A detector or embedder is chosen by this name (settings,
`--detector`, `--embedder`), loaded once per process, and identified in the database by its
`model_id`. Adding a model is one new file under detectors/ or embedders/ and one line here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from face_pipeline.lib.errors import ConfigError
from face_pipeline.lib.models.detectors.dlib_cnn import DlibCnnDetector
from face_pipeline.lib.models.detectors.dlib_hog import DlibHogDetector
from face_pipeline.lib.models.detectors.dlib_hog_plus import DlibHogPlusDetector
from face_pipeline.lib.models.detectors.haar import HaarDetector
from face_pipeline.lib.models.detectors.retinaface import RetinaFaceDetector
from face_pipeline.lib.models.detectors.rotations import RotatedPassesDetector
from face_pipeline.lib.models.detectors.scrfd import ScrfdDetector
from face_pipeline.lib.models.detectors.yunet import YuNetDetector
from face_pipeline.lib.models.embedders.clip_imgbeddings import ClipImgbeddingsEmbedder
from face_pipeline.lib.models.embedders.dlib_resnet import (
    DlibResnetEmbedder,
    DlibResnetFlipEmbedder,
)
from face_pipeline.lib.models.embedders.facenet import FaceNetEmbedder, FaceNetFlipEmbedder
from face_pipeline.lib.models.embedders.mobilefacenet import (
    MobileFaceNetEmbedder,
    MobileFaceNetFlipEmbedder,
)
from face_pipeline.lib.models.interfaces import FaceDetector, FaceEmbedder
from face_pipeline.lib.models.weights import ModelFilesMissing, default_model_dir, verified_path

log = logging.getLogger(__name__)


class UnknownModel(ConfigError):
    pass


@dataclass(frozen=True)
class ModelFolders:
    """Where model files are: the installed weight files, and the user's CLIP files (optional)."""

    model_dir: Path
    clip_model_dir: str = ""

    @classmethod
    def default(cls) -> ModelFolders:
        return cls(default_model_dir())


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: str  # "detector" or "embedder"
    model_class: type  # its class attributes: licence, weight_files, summary, commercial_use ...
    build: Callable[[ModelFolders], object]
    summary: str = ""
    default_install: bool = True  # `face-pipeline models install` without names installs it

    @property
    def licence(self) -> str:
        return self.model_class.licence

    @property
    def weight_files(self) -> tuple[str, ...]:
        return tuple(self.model_class.weight_files)

    @property
    def commercial_use(self) -> bool:
        return getattr(self.model_class, "commercial_use", True)

    def description(self) -> str:
        return self.summary or self.model_class.summary


def _weights(folders: ModelFolders, name: str, file: str) -> Path:
    return verified_path(folders.model_dir, file, name)


def _retinaface(folders: ModelFolders, **kw) -> RetinaFaceDetector:
    return RetinaFaceDetector(_weights(folders, "retinaface-mnet025", "retinaface-mnet025.onnx"), **kw)


def _yunet(folders: ModelFolders, **kw) -> YuNetDetector:
    return YuNetDetector(_weights(folders, "yunet", "yunet-2023mar.onnx"), **kw)


def _scrfd(folders: ModelFolders, **kw) -> ScrfdDetector:
    return ScrfdDetector(_weights(folders, "scrfd-2.5g", "scrfd-2.5g-kps.onnx"), **kw)


DETECTORS: dict[str, ModelEntry] = {e.name: e for e in (
    ModelEntry("dlib-hog", "detector", DlibHogDetector, lambda f: DlibHogDetector()),
    ModelEntry("dlib-hog-plus", "detector", DlibHogPlusDetector, lambda f: DlibHogPlusDetector()),
    ModelEntry("dlib-cnn", "detector", DlibCnnDetector, lambda f: DlibCnnDetector()),
    ModelEntry("haar", "detector", HaarDetector, lambda f: HaarDetector()),
    ModelEntry("retinaface-mnet025", "detector", RetinaFaceDetector, _retinaface),
    ModelEntry("retinaface-mnet025-rot", "detector", RetinaFaceDetector,
               lambda f: RotatedPassesDetector(_retinaface(f), _retinaface(f, max_side=640), turns=(1, 3)),
               "RetinaFace + passes on the photo turned sideways (people lying down, phones held sideways); "
               "~10 % faster than the default, misses upside-down faces"),
    ModelEntry("retinaface-mnet025-rot3", "detector", RetinaFaceDetector,
               lambda f: RotatedPassesDetector(_retinaface(f), _retinaface(f, max_side=640)),
               "RetinaFace + passes on the photo turned 90, 180 and 270 degrees (people lying down, floating "
               "upside down, phones held sideways); the default"),
    ModelEntry("yunet", "detector", YuNetDetector, _yunet),
    ModelEntry("yunet-rot", "detector", YuNetDetector,
               lambda f: RotatedPassesDetector(_yunet(f), _yunet(f, max_side=640)),
               "YuNet + passes on the photo turned 90/180/270 degrees"),
    ModelEntry("scrfd-2.5g", "detector", ScrfdDetector, _scrfd, default_install=False),
    ModelEntry("scrfd-2.5g-rot", "detector", ScrfdDetector,
               lambda f: RotatedPassesDetector(_scrfd(f), _scrfd(f, max_side=480)),
               "SCRFD + passes on the photo turned 90/180/270 degrees (non-commercial weights)",
               default_install=False),
)}

EMBEDDERS: dict[str, ModelEntry] = {e.name: e for e in (
    ModelEntry("dlib-resnet-v1", "embedder", DlibResnetEmbedder, lambda f: DlibResnetEmbedder()),
    ModelEntry("dlib-resnet-v1-flip", "embedder", DlibResnetFlipEmbedder, lambda f: DlibResnetFlipEmbedder()),
    ModelEntry("facenet-v1", "embedder", FaceNetEmbedder,
               lambda f: FaceNetEmbedder(_weights(f, "facenet-v1", "facenet-keras-2024.onnx"))),
    ModelEntry("facenet-v1-flip", "embedder", FaceNetFlipEmbedder,
               lambda f: FaceNetFlipEmbedder(_weights(f, "facenet-v1-flip", "facenet-keras-2024.onnx"))),
    ModelEntry("mobilefacenet", "embedder", MobileFaceNetEmbedder,
               lambda f: MobileFaceNetEmbedder(_weights(f, "mobilefacenet", "mobilefacenet.onnx")),
               default_install=False),
    ModelEntry("mobilefacenet-flip", "embedder", MobileFaceNetFlipEmbedder,
               lambda f: MobileFaceNetFlipEmbedder(_weights(f, "mobilefacenet-flip", "mobilefacenet.onnx")),
               default_install=False),
    ModelEntry("clip-imgbeddings", "embedder", ClipImgbeddingsEmbedder,
               lambda f: ClipImgbeddingsEmbedder(f.clip_model_dir), default_install=False),
)}


def entry(name: str) -> ModelEntry:
    found = DETECTORS.get(name) or EMBEDDERS.get(name)
    if found is None:
        raise UnknownModel(f"unknown model {name!r}; choose one of {sorted([*DETECTORS, *EMBEDDERS])}")
    return found


def _entry_of(kind: str, registry: dict[str, ModelEntry], name: str) -> ModelEntry:
    if name not in registry:
        raise UnknownModel(f"unknown {kind} {name!r}; choose one of {sorted(registry)}")
    return registry[name]


@cache
def get_detector(name: str, folders: ModelFolders | None = None) -> FaceDetector:
    """The detector registered under `name`, loaded once per process."""
    e = _entry_of("detector", DETECTORS, name)
    _warn_if_non_commercial(e)
    return e.build(folders or ModelFolders.default())


@cache
def get_embedder(name: str, folders: ModelFolders | None = None) -> FaceEmbedder:
    """The embedder registered under `name`, loaded once per process."""
    e = _entry_of("embedder", EMBEDDERS, name)
    _warn_if_non_commercial(e)
    return e.build(folders or ModelFolders.default())


def crop_kind_of(embedder_name: str) -> str:
    """The crop an embedder consumes; crops are reusable across embedders of the same kind."""
    return _entry_of("embedder", EMBEDDERS, embedder_name).model_class.crop_kind


def embedder_model_id(name: str, folders: ModelFolders | None = None) -> str:
    """The model id of an embedder's vectors, without loading it."""
    cls = _entry_of("embedder", EMBEDDERS, name).model_class
    if hasattr(cls, "model_id_for"):  # CLIP: the id names the files in the user's folder
        return cls.model_id_for((folders or ModelFolders.default()).clip_model_dir)
    return cls.model_id


def embedder_for_model_id(model_id: str, folders: ModelFolders | None = None) -> FaceEmbedder:
    """The registered embedder whose vectors carry `model_id` (vectors are compared like with like)."""
    for name in EMBEDDERS:
        try:
            matches = embedder_model_id(name, folders) == model_id
        except ModelFilesMissing:  # CLIP without its folder: it can not have made these vectors
            continue
        if matches:
            return get_embedder(name, folders)  # a missing weight file says how to install it
    raise UnknownModel(f"vectors of model {model_id!r} are stored but no installed embedder produces them")


_warned: set[str] = set()


def _warn_if_non_commercial(e: ModelEntry) -> None:
    if not e.commercial_use and e.name not in _warned:
        _warned.add(e.name)
        log.warning("%s: %s. Do not use it for a company's own photos.", e.name, e.licence)
