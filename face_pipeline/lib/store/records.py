"""The rows the store writes and reads, as plain records.

One face record per stage: a detector's DetectedFace (lib/models/faces.py, work-image pixels, no id)
becomes a FaceRow when it is written (the event's stage file and the faces table); every read of the
faces table gives a StoredFace; a lookup's answer for one face is a FaceMatch, a person's face a
PersonFace (lib/people), both StoredFaces with the fields of their stage. `detector_model` names the
model that found a face, `model_id` the embedder that made a vector (the columns of the same names)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

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
    """Write side: a face as the ingest writes it (stage file, COPY into faces), before it has a photo path."""

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
    #: Written photos the event did not hold before this write (read in its transaction, so a rerun
    #: after an interrupted run counts what is new to the database, not to the last stage file).
    photos_new: int = 0


@dataclass
class StoredFace:
    """Read side: where a stored face is (its photo, box and crop). Every read of faces (an event's
    faces to group, a lookup's match, a person's face) selects these columns by name (see `from_row`)."""

    face_id: str
    event: str
    photo_id: str
    path: str
    face_index: int
    box: tuple[int, int, int, int]
    crop_path: str
    width: int
    height: int

    def location(self) -> dict:
        """This face's StoredFace fields, to build another record of the same face."""
        return {name: getattr(self, name) for name in StoredFace.__dataclass_fields__}

    @classmethod
    def from_row(cls, row: Mapping[str, object], **given: object) -> Self:
        """This record from a row read by column name (psycopg's dict_row): each field from the
        column of the same name (the box from box_left, box_top, box_right, box_bottom), except those
        `given`. A subclass's own fields (a match's distance, a person face's pinned) come the same way."""
        box = (row["box_left"], row["box_top"], row["box_right"], row["box_bottom"])
        named = {name: row[name] for name in cls.__dataclass_fields__ if name in row and name not in given}
        return cls(**{"box": box, **named, **given})


@dataclass
class FaceMatch(StoredFace):
    """A lookup's answer for one face: how far it is from the query, by which embedder."""

    distance: float = 0.0
    model_id: str = ""


def face_id_for(event: str, photo_id: str, detector_model: str, face_index: int) -> str:
    """Content-derived face id: the same photo, detector and face always get the same id."""
    key = f"{event}\x1f{photo_id}\x1f{detector_model}\x1f{face_index}".encode()
    return hashlib.sha256(key).hexdigest()[:32]


def event_lock_key(event: str) -> int:
    """The advisory-lock key of an event (one writer per event, on every machine)."""
    return int.from_bytes(hashlib.sha256(f"face_pipeline:event:{event}".encode()).digest()[:8], "big", signed=True)
