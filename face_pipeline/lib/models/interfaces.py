"""The two small interfaces every model implements, and what they share (distances, confidence).

A detector class and an embedder class each live in their own file under detectors/ and embedders/,
with the catalogue cards (card.py) that registry.py lists: name, model id, licence, files, evidence.
A model reads its weights on first use, so building one costs nothing but the check of its files.
"""

from __future__ import annotations

import math
from typing import Literal, Protocol

import numpy as np

from face_pipeline.lib.models.faces import DetectedFace

Metric = Literal["l2", "cosine"]


class FaceDetector(Protocol):
    model_id: str  # names every parameter that changes what it finds; stored with every face

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]: ...


class FaceEmbedder(Protocol):
    model_id: str  # stored with every vector; vectors of two model ids are never compared
    dim: int
    metric: Metric
    crop_kind: str  # what `crop` makes; crops of one kind serve every embedder of that kind
    default_threshold: float
    link_threshold: float  # faces closer than this are the same person (lib/people)

    def crop(self, rgb: np.ndarray, face: DetectedFace) -> np.ndarray: ...

    def embed(self, crops: list[np.ndarray]) -> np.ndarray: ...

    def confidence(self, distance: float) -> float: ...


def logistic(distance: float, midpoint: float, scale: float) -> float:
    """A calibrated confidence: the probability that a face at `distance` is the person."""
    z = (distance - midpoint) / scale
    if z > 50:
        return 0.0
    return 1.0 / (1.0 + math.exp(z))


def distance(a: np.ndarray, b: np.ndarray, metric: Metric) -> np.ndarray:
    """Distances from each row of `a` to vector `b`, as pgvector computes them (<-> or <=>)."""
    a = np.atleast_2d(a).astype(np.float64)
    b = np.asarray(b, dtype=np.float64)
    if metric == "l2":
        return np.linalg.norm(a - b, axis=1)
    na = np.linalg.norm(a, axis=1) * np.linalg.norm(b)
    return 1.0 - (a @ b) / np.where(na == 0, 1.0, na)


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1.0, norms)).astype(np.float32)
