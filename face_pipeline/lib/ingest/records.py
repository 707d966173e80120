"""What each ingest step produces: the photos of an event, their faces, and one vector per face.
Each is kept as a stage file of the event (stage_files.py) for the next step and the next run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from face_pipeline.lib.photos.files import Ignored, Skipped
from face_pipeline.lib.store.records import FaceRow


@dataclass
class PhotoEntry:
    photo_id: str
    relpath: str
    size_bytes: int
    mtime: float
    width: int
    height: int
    captured_at: str | None
    format: str


@dataclass
class PhotoManifest:
    event: str
    photos: list[PhotoEntry]
    skipped: list[Skipped]
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    duplicates: int = 0
    #: Hidden files and folders (`.DS_Store`, `._IMG.jpg`, `.thumbnails/`), never searched; each
    #: listed with its reason, and how many files they hold in all.
    ignored: list[Ignored] = field(default_factory=list)

    @property
    def ignored_files(self) -> int:
        return sum(i.files for i in self.ignored)

    def to_json(self) -> dict:
        d = asdict(self)
        return d

    @classmethod
    def from_json(cls, d: dict) -> PhotoManifest:
        return cls(
            event=d["event"],
            photos=[PhotoEntry(**p) for p in d["photos"]],
            skipped=[Skipped(**s) for s in d["skipped"]],
            **{k: d.get(k, 0) for k in ("new", "changed", "unchanged", "removed", "duplicates")},
            ignored=[Ignored(**s) for s in d.get("ignored", [])],
        )


@dataclass
class FaceSet:
    """The detection step's stage file of one event (not a face record): its FaceRows, the count per
    photo (0 included, so a photo without faces is not detected again) and the step's timings."""

    event: str
    detector_model: str
    crop_kind: str
    faces: list[FaceRow]
    photo_faces: dict[str, int]  # photo_id -> number of faces (0 included)
    skipped: list[Skipped] = field(default_factory=list)  # photos that failed to decode
    detected_photos: int = 0
    reused_photos: int = 0
    seconds_decode: float = 0.0
    seconds_detect: float = 0.0
    seconds_align: float = 0.0
    seconds_embed: float = 0.0  # the workers' embedding of each photo's faces right after its detection

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> FaceSet:
        d = dict(d)
        d["faces"] = [FaceRow.from_json(f) for f in d["faces"]]
        d["skipped"] = [Skipped(**s) for s in d.get("skipped", [])]
        return cls(**d)


@dataclass
class EmbeddingSet:
    event: str
    model_id: str
    metric: str
    face_ids: list[str]
    vectors: np.ndarray
    embedded: int = 0
    reused: int = 0
    seconds_embed: float = 0.0
