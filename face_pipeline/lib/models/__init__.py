"""Face models: detectors and embedders, one file each under detectors/ and embedders/, each with
its catalogue card (card.py: name, model id, licence, files, evidence, factory); registry.py lists the
cards and builds models by name; how faces are aligned (alignment.py); where weight files come from
and how they are checked (weights.py, package_files.py, packages.py); install-time conversions
(conversions/)."""

from face_pipeline.lib.models.card import ModelCard, ModelFolders
from face_pipeline.lib.models.face_finder import find_faces
from face_pipeline.lib.models.faces import DLIB5, FIVE_POINT, DetectedFace
from face_pipeline.lib.models.interfaces import FaceDetector, FaceEmbedder, Metric, distance
from face_pipeline.lib.models.registry import (
    CATALOGUE,
    DETECTORS,
    EMBEDDERS,
    UnknownModel,
    card,
    crop_kind_of,
    detector_model_id,
    embedder_for_model_id,
    embedder_model_id,
    get_detector,
    get_embedder,
)
from face_pipeline.lib.models.weights import ModelFilesMissing

__all__ = [
    "CATALOGUE",
    "DETECTORS",
    "DLIB5",
    "EMBEDDERS",
    "FIVE_POINT",
    "DetectedFace",
    "FaceDetector",
    "FaceEmbedder",
    "Metric",
    "ModelCard",
    "ModelFilesMissing",
    "ModelFolders",
    "UnknownModel",
    "card",
    "crop_kind_of",
    "detector_model_id",
    "distance",
    "embedder_for_model_id",
    "embedder_model_id",
    "find_faces",
    "get_detector",
    "get_embedder",
]
