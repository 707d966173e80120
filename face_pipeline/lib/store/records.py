"""The rows the store writes and reads, as plain records.

A face is a FaceRow wherever it is stored (the event's stage file and the faces table); a lookup's
answer for one face is a FaceMatch. `detector_model` names the model that found a face, `model_id` the
embedder that made a vector (the columns of the same names)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np


@dataclass
class PhotoRow:
    photo_id: str
    path: str
    size_bytes: int
    width: int
    height: int
    captured_at: object
    face_count: int


@dataclass
class FaceRow:
    face_id: str
    photo_id: str
    face_index: int
    box: tuple[int, int, int, int]  # left, top, right, bottom in full-size oriented photo pixels
    score: float
    landmarks: list[float]  # x0, y0, ... x4, y4 in photo pixels
    crop_path: str  # relative to DATA_DIR

    @classmethod
    def from_json(cls, d: dict) -> FaceRow:
        return cls(**{**d, "box": tuple(d["box"])})


@dataclass
class EventWrite:
    """Everything one materialisation of an event writes for one (detector, embedder) pair."""

    event: str
    detector_model: str
    model_id: str  # the embedder's
    photos: list[PhotoRow]
    faces: list[FaceRow]
    vectors: np.ndarray  # (len(faces), dim), row i belongs to faces[i]
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (path, reason, message)
    metric: str | None = None  # the embedder's; given, the model's vector index is made if missing


@dataclass
class WriteSummary:
    photos: int
    faces: int
    vectors: int
    photos_removed: int
    skipped: int


@dataclass
class FaceMatch:
    face_id: str
    event: str
    photo_id: str
    path: str
    face_index: int
    box: tuple[int, int, int, int]
    crop_path: str
    width: int
    height: int
    distance: float
    model_id: str = ""


def face_id_for(event: str, photo_id: str, detector_model: str, face_index: int) -> str:
    """Content-derived face id: the same photo, detector and face always get the same id."""
    key = f"{event}\x1f{photo_id}\x1f{detector_model}\x1f{face_index}".encode()
    return hashlib.sha256(key).hexdigest()[:32]


def event_lock_key(event: str) -> int:
    """The advisory-lock key of an event (one writer per event, on every machine)."""
    return int.from_bytes(hashlib.sha256(f"face_pipeline:event:{event}".encode()).digest()[:8], "big", signed=True)
