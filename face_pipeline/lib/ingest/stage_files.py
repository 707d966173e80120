"""The stage files of an event (DATA_DIR/stage/<event>/): photos.json, faces.json, vectors.npz, and
detect-vectors.npz (the vectors the detection step made of the faces it found, for the embedding step).

Each step writes its result here, atomically and owner-only (or as one object PUT when the data
folder is an object store, lib/storage.py), and the next step (and the next run of the same step, to
reuse what did not change) reads it. Only face_vectors writes the database, so a
failure anywhere before leaves the event's stored rows as they were.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from face_pipeline.lib.errors import UserError
from face_pipeline.lib.ingest.records import EmbeddingSet, FaceSet, PhotoManifest
from face_pipeline.lib.photos.events import validate_event_name
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.storage import make_private_dir, read_file, write_file

log = logging.getLogger(__name__)

PHOTOS, FACES, VECTORS, DETECT_VECTORS = "photos.json", "faces.json", "vectors.npz", "detect-vectors.npz"


def stage_folder(settings: Settings, event: str) -> Path:
    validate_event_name(event)
    return make_private_dir(settings.stage_dir / event)


def write_json_atomic(path: Path, payload) -> None:
    write_file(path, json.dumps(payload).encode())


def read_json(path: Path):
    try:
        return json.loads(read_file(path))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        log.warning("stage file %s is unreadable; recomputing from scratch", path)
        return None


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_file(path, buf.getvalue())


def _read_npz(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of an .npz stage file; None when there is none."""
    try:
        data = read_file(path)
    except FileNotFoundError:
        return None
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@dataclass(frozen=True)
class StageRecord:
    """One JSON stage file of an event and the record it holds."""

    filename: str
    record_type: type
    missing: str  # the message when it is needed but absent ({event} is filled in)

    def write(self, settings: Settings, record) -> None:
        write_json_atomic(stage_folder(settings, record.event) / self.filename, record.to_json())

    def previous(self, settings: Settings, event: str):
        """The record of the last run of its step, or None."""
        raw = read_json(stage_folder(settings, event) / self.filename)
        return self.record_type.from_json(raw) if raw else None

    def load(self, settings: Settings, event: str):
        """The record a later step needs: UserError names the asset to materialise first."""
        found = self.previous(settings, event)
        if found is None:
            raise UserError(self.missing.format(event=repr(event)))
        return found


MANIFEST = StageRecord(PHOTOS, PhotoManifest, "event {event} has not been scanned yet (materialise event_photos first)")
FACE_SET = StageRecord(FACES, FaceSet, "event {event} has no detected faces yet (materialise face_crops first)")
write_manifest, previous_manifest, load_manifest = MANIFEST.write, MANIFEST.previous, MANIFEST.load
write_faces, previous_faces, load_faces = FACE_SET.write, FACE_SET.previous, FACE_SET.load


def write_vectors(settings: Settings, emb: EmbeddingSet) -> None:
    _write_npz(
        stage_folder(settings, emb.event) / VECTORS,
        {
            "model_id": np.array(emb.model_id),
            "metric": np.array(emb.metric),
            "face_ids": np.array(emb.face_ids, dtype=str),
            "vectors": emb.vectors,
        },
    )


def _vectors_of_model(path: Path, model_id: str, instead: str) -> dict[str, np.ndarray]:
    """face_id -> vector of a vectors stage file, when `model_id` made it (else empty); an unreadable
    file is logged with what the step does `instead`."""
    try:
        found = _read_npz(path)
        if found is not None and str(found["model_id"]) == model_id:
            return dict(zip(found["face_ids"].tolist(), found["vectors"], strict=True))
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        log.warning("stage file %s is unreadable; %s", path, instead)
    return {}


def previous_vectors(settings: Settings, event: str, model_id: str) -> dict[str, np.ndarray]:
    """face_id -> vector of the previous embedding step, when it used `model_id` (else empty)."""
    return _vectors_of_model(stage_folder(settings, event) / VECTORS, model_id, "embedding every face again")


def write_detect_vectors(settings: Settings, event: str, model_id: str, vectors: dict[str, np.ndarray]) -> None:
    """The vectors the detection step made (face_id -> vector of `model_id`), replacing the last ones."""
    ids = list(vectors)
    arr = np.asarray([vectors[f] for f in ids], dtype=np.float32) if ids else np.zeros((0, 0), np.float32)
    _write_npz(
        stage_folder(settings, event) / DETECT_VECTORS,
        {"model_id": np.array(model_id), "face_ids": np.array(ids, dtype=str), "vectors": arr},
    )


def detect_vectors(settings: Settings, event: str, model_id: str) -> dict[str, np.ndarray]:
    """face_id -> vector the last detection step made with `model_id` (else empty)."""
    return _vectors_of_model(stage_folder(settings, event) / DETECT_VECTORS, model_id, "embedding from the crop files")


def load_embeddings(settings: Settings, event: str) -> EmbeddingSet:
    z = _read_npz(stage_folder(settings, event) / VECTORS)
    if z is None:
        raise UserError(f"event {event!r} has no embeddings yet (materialise face_embeddings first)")
    metric = str(z["metric"]) if "metric" in z else "l2"
    return EmbeddingSet(event, str(z["model_id"]), metric, z["face_ids"].tolist(), z["vectors"].copy())


def drop_faces(settings: Settings, event: str, face_ids: set[str]) -> tuple[int, set[str]]:
    """Remove faces from the event's faces.json and vectors.npz (forgetting a person); returns how
    many entries went and the crop files they pointed at."""
    removed, crops = 0, set()
    faces = previous_faces(settings, event)
    if faces is not None:
        keep = []
        for f in faces.faces:
            if f.face_id in face_ids:
                removed += 1
                crops.add(f.crop_path)
                faces.photo_faces[f.photo_id] = max(0, faces.photo_faces.get(f.photo_id, 1) - 1)
            else:
                keep.append(f)
        faces.faces = keep
        write_faces(settings, faces)
    path = stage_folder(settings, event) / VECTORS
    stored = _read_npz(path)
    if stored is not None:
        ids = stored["face_ids"]
        keep_mask = np.array([fid not in face_ids for fid in ids.tolist()], dtype=bool)
        if len(ids):
            stored["face_ids"], stored["vectors"] = ids[keep_mask], stored["vectors"][keep_mask]
        _write_npz(path, stored)
    return removed, crops
