"""Face models: detectors and embedders chosen by name (registry.py), one file each under
detectors/ and embedders/; how faces are aligned (alignment.py); where weight files come from and how
they are checked (weights.py); install-time conversions (conversions/)."""

from face_pipeline.lib.models.face_finder import find_faces
from face_pipeline.lib.models.faces import DLIB5, FIVE_POINT, DetectedFace
from face_pipeline.lib.models.interfaces import FaceDetector, FaceEmbedder, Metric, distance
from face_pipeline.lib.models.registry import (
    DETECTORS,
    EMBEDDERS,
    ModelFolders,
    UnknownModel,
    crop_kind_of,
    embedder_for_model_id,
    embedder_model_id,
    get_detector,
    get_embedder,
)
from face_pipeline.lib.models.weights import ModelFilesMissing

__all__ = [
    "DETECTORS", "DLIB5", "EMBEDDERS", "FIVE_POINT", "DetectedFace", "FaceDetector", "FaceEmbedder", "Metric",
    "ModelFilesMissing", "ModelFolders", "UnknownModel", "crop_kind_of", "distance", "embedder_for_model_id",
    "embedder_model_id", "find_faces", "get_detector", "get_embedder",
]
