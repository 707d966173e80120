"""Forgetting: an event, or a person, removed from everything the pipeline stored.

`forget_event` removes an event's rows (photos, faces, vectors, skipped files, model records) in one
transaction, then its crops and stage files. `forget_person` finds every stored face within the
threshold of the reference picture(s), through the same reference loading, embedders and pgvector
search as `find_person` but exact (no HNSW) and without a `k` cut-off, and lists them (dry run, the
default); with `dry_run=False` it deletes those faces' rows and vectors in one transaction and,
before that transaction commits, removes their crop files and their entries in the stage files, so
that re-ingesting the unchanged photos does not bring them back.

The photos themselves stay in the photos folder: they belong to the user. A later re-detection
(another detector, or a changed photo file) would find the person again; the dry-run listing names
the photos so that they can be removed at the source too.
"""

from __future__ import annotations

import html
import os
import shutil
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from psycopg import sql

from face_pipeline.lib import ingest
from face_pipeline.lib.event_lock import event_lock
from face_pipeline.lib.events import validate_event_name
from face_pipeline.lib.models import embedder_for_model_id
from face_pipeline.lib.search import (
    UnanswerableLookup,
    load_references,
    nearest_faces,
    resolve_serving_models,
)
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.store import VectorStore, _event_lock_key

#: candidates per reference for the find-me scoring pass: far more than a lookup's k
FIND_CANDIDATES = 1000


class UnknownEvent(UnanswerableLookup):
    """Nothing is stored for this event: no rows, no crops, no stage files."""


@dataclass(frozen=True)
class FaceToForget:
    event: str
    path: str  # the photo, relative to the event folder
    face_id: str
    photo_id: str
    face_index: int
    box: tuple[int, int, int, int]
    distance: float
    model_id: str
    crop_path: str


@dataclass
class ForgetPersonResult:
    faces: list[FaceToForget]
    threshold: float
    dry_run: bool
    deleted: dict[str, int] = field(default_factory=dict)  # faces, vectors, crops, stage_faces
    reports: list[Path] = field(default_factory=list)  # HTML reports that show one of these photos
    reports_deleted: int = 0

    @property
    def photos(self) -> list[tuple[str, str]]:
        """(event, path) of every photo that shows the person, for the listing."""
        return sorted({(f.event, f.path) for f in self.faces})


@dataclass
class ForgetEventResult:
    event: str
    dry_run: bool
    rows: dict[str, int]  # photos, faces, vectors, skipped
    crop_files: int
    stage_files: int
    reports: list[Path] = field(default_factory=list)  # HTML reports that show a photo of the event


# ---- a person ----------------------------------------------------------------------------------


def faces_of_person(
    settings: Settings,
    store: VectorStore,
    references: Sequence[str | Path] | str | Path,
    *,
    threshold: float | None = None,
    events: Sequence[str] | None = None,
    face_index: int | None = None,
    detector: str | None = None,
) -> tuple[list[FaceToForget], float]:
    """Every stored face within `threshold` (model default if None) of the nearest reference, and
    every face that `find`'s scoring puts within it.

    Unlike a lookup, nothing is cut off: the exact search is repeated with a doubled limit until
    the farthest face returned is beyond the threshold.
    """
    groups = resolve_serving_models(store, events)
    refs = load_references(settings, references, face_index=face_index, detector=detector)
    found: dict[str, FaceToForget] = {}
    used = threshold

    def keep(matches, t: float, model_id: str) -> None:
        for m in matches:
            if m.distance > t:
                continue
            if m.face_id in found and found[m.face_id].distance <= m.distance:
                continue
            found[m.face_id] = FaceToForget(m.event, m.path, m.face_id, m.photo_id, m.face_index,
                                            tuple(m.box), m.distance, model_id, m.crop_path)

    for model_id, evs in sorted(groups.items()):
        embedder = embedder_for_model_id(model_id, settings.model_folders)
        t = embedder.default_threshold if threshold is None else threshold
        used = t
        queries = embedder.embed([embedder.crop(r.photo.rgb, r.face) for r in refs])
        for q in queries:
            limit = 200
            while True:
                matches = store.search_faces(q, model_id=model_id, dim=embedder.dim, metric=embedder.metric,
                                             events=evs, limit=limit)
                if len(matches) < limit or matches[-1].distance > t:
                    break
                limit *= 2
            keep(matches, t, model_id)
        # Everything `find` would show is forgotten too: its scoring (mean over the references,
        # then a second search from the confident hits) reaches faces that no single reference
        # has within the threshold (on the demo, 4 Biden photos where the raw distance finds 2).
        keep(nearest_faces(store, queries, embedder, model_id, events=evs, limit=FIND_CANDIDATES).values(),
             t, model_id)
    faces = sorted(found.values(), key=lambda f: (f.event, f.path, f.face_index))
    return faces, float(used if used is not None else 0.0)


def forget_person(
    settings: Settings,
    store: VectorStore,
    references: Sequence[str | Path] | str | Path,
    *,
    threshold: float | None = None,
    events: Sequence[str] | None = None,
    face_index: int | None = None,
    detector: str | None = None,
    dry_run: bool = True,
) -> ForgetPersonResult:
    """List (dry run, the default) or delete every stored face of the person in the reference(s)."""
    faces, used = faces_of_person(settings, store, references, threshold=threshold, events=events,
                                  face_index=face_index, detector=detector)
    result = ForgetPersonResult(faces, used, dry_run, reports=reports_showing(settings, photos=set(
        (f.event, f.path) for f in faces)))
    if dry_run or not faces:
        result.deleted = {"faces": 0, "vectors": 0, "crops": 0, "stage_faces": 0}
        return result
    result.deleted = delete_faces(settings, store, faces)
    result.reports_deleted = _delete_files(result.reports)  # derived pages: after the rows are gone
    return result


def reports_showing(settings: Settings, *, photos: set[tuple[str, str]] = frozenset(),
                    events: set[str] = frozenset()) -> list[Path]:
    """The HTML reports under DATA_DIR/reports that show one of these (event, path) photos, or any
    photo of these events (each report names a photo as `event/path` under its thumbnail)."""
    if not settings.reports_dir.is_dir():
        return []
    needles = [f"</b> {html.escape(e)}/{html.escape(p)}<br>" for e, p in photos]
    needles += [f"</b> {html.escape(e)}/" for e in events]
    found = []
    for page in sorted(settings.reports_dir.rglob("*.html")):
        text = page.read_text(errors="replace")
        if any(n in text for n in needles):
            found.append(page)
    return found


def _delete_files(paths: Sequence[Path]) -> int:
    n = 0
    for path in paths:
        try:
            path.unlink()
            n += 1
        except FileNotFoundError:
            pass
    return n


def delete_faces(settings: Settings, store: VectorStore, faces: Sequence[FaceToForget]) -> dict[str, int]:
    """Delete these faces everywhere: rows and vectors (one transaction), crops and stage entries.

    Files go before the commit: if the commit then fails, the rows are still there and the same
    command finds and deletes them again; the reverse order could leave a crop of someone whose
    rows are gone, with nothing left pointing at it.
    """
    by_event: dict[str, set[str]] = {}
    for f in faces:
        by_event.setdefault(f.event, set()).add(f.face_id)
    face_ids = sorted({f.face_id for f in faces})
    counts = {"faces": 0, "vectors": 0, "crops": 0, "stage_faces": 0}
    with ExitStack() as stack:
        for event in sorted(by_event):  # a fixed order: two forgets never deadlock
            stack.enter_context(event_lock(settings, event))
        with store.connect() as conn, conn.transaction():
            for event in sorted(by_event):
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_event_lock_key(event),))
            counts["vectors"] = conn.execute(
                "SELECT count(*) FROM face_vectors WHERE face_id = ANY(%s)", (face_ids,)
            ).fetchone()[0]
            deleted = conn.execute(
                "DELETE FROM faces WHERE face_id = ANY(%s) RETURNING event, photo_id, crop_path", (face_ids,)
            ).fetchall()  # face_vectors rows go with them (ON DELETE CASCADE)
            counts["faces"] = len(deleted)
            photos = sorted({(ev, pid) for ev, pid, _ in deleted})
            conn.execute(
                """UPDATE photos p SET face_count = (
                       SELECT count(*) FROM faces f
                       WHERE f.event = p.event AND f.photo_id = p.photo_id AND f.detector_model = p.detector_model)
                   WHERE (p.event, p.photo_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))""",
                ([ev for ev, _ in photos], [pid for _, pid in photos]),
            )
            conn.execute(
                """UPDATE event_models e SET face_count = (
                       SELECT count(*) FROM face_vectors v WHERE v.event = e.event AND v.model_id = e.model_id)
                   WHERE e.event = ANY(%s)""",
                (sorted(by_event),),
            )
            crop_paths = {c for _, _, c in deleted} | {f.crop_path for f in faces}
            for event, ids in sorted(by_event.items()):
                removed, stage_crops = _drop_from_stage(settings, event, ids)
                counts["stage_faces"] += removed
                crop_paths |= stage_crops
            counts["crops"] = _delete_crops(settings, crop_paths)
    return counts


def _delete_crops(settings: Settings, crop_paths: set[str]) -> int:
    crops_root = settings.crops_dir.resolve()
    n = 0
    for rel in sorted(crop_paths):
        path = (settings.data_dir / rel).resolve()
        if not path.is_relative_to(crops_root):  # never delete outside DATA_DIR/crops
            continue
        try:
            path.unlink()
            n += 1
        except FileNotFoundError:
            continue
        try:
            path.parent.rmdir()  # the photo's crop folder, once empty
        except OSError:
            pass
    return n


def _drop_from_stage(settings: Settings, event: str, face_ids: set[str]) -> tuple[int, set[str]]:
    """Remove the faces from the event's faces.json and vectors.npz (atomically, owner-only)."""
    stage = settings.stage_dir / event
    removed = 0
    crops: set[str] = set()
    faces_path = stage / "faces.json"
    raw = ingest._read_json(faces_path)
    if raw is not None:
        face_set = ingest.FaceSet.from_json(raw)
        keep = []
        for f in face_set.faces:
            if f.face_id in face_ids:
                removed += 1
                crops.add(f.crop_path)
                face_set.photo_faces[f.photo_id] = max(0, face_set.photo_faces.get(f.photo_id, 1) - 1)
            else:
                keep.append(f)
        face_set.faces = keep
        ingest._write_json_atomic(faces_path, face_set.to_json())
    vec_path = stage / "vectors.npz"
    if vec_path.is_file():
        with np.load(vec_path, allow_pickle=False) as z:
            model_id, ids, vectors = z["model_id"], z["face_ids"], z["vectors"]
        keep_mask = np.array([fid not in face_ids for fid in ids.tolist()], dtype=bool)
        tmp = stage / f"vectors.tmp{os.getpid()}.npz"
        np.savez(tmp, model_id=model_id, face_ids=ids[keep_mask] if len(ids) else ids,
                 vectors=vectors[keep_mask] if len(ids) else vectors)
        os.chmod(tmp, 0o600)
        os.replace(tmp, vec_path)
    return removed, crops


# ---- an event ----------------------------------------------------------------------------------


def forget_event(settings: Settings, store: VectorStore, event: str, *, dry_run: bool = False) -> ForgetEventResult:
    """Remove an event's rows (one transaction), then its crops and stage folder.

    The photos folder is left alone. Running it again after an interruption finishes the job.
    """
    validate_event_name(event)
    crops = settings.crops_dir / event
    stage = settings.stage_dir / event
    with event_lock(settings, event):
        with store.connect() as conn:
            rows = {
                table: conn.execute(
                    sql.SQL("SELECT count(*) FROM {} WHERE event = %s").format(sql.Identifier(table)), (event,)
                ).fetchone()[0]
                for table in ("photos", "faces", "face_vectors", "skipped_files", "event_models")
            }
        crop_files = sum(1 for p in crops.rglob("*") if p.is_file()) if crops.is_dir() else 0
        stage_files = sum(1 for p in stage.rglob("*") if p.is_file()) if stage.is_dir() else 0
        if not any(rows.values()) and not crops.exists() and not stage.exists():
            raise UnknownEvent(f"nothing is stored for event {event!r}: no rows, crops or stage files")
        counts = {"photos": rows["photos"], "faces": rows["faces"], "vectors": rows["face_vectors"],
                  "skipped": rows["skipped_files"]}
        reports = reports_showing(settings, events={event})
        if not dry_run:
            counts = store.delete_event(event)
            shutil.rmtree(crops, ignore_errors=True)
            shutil.rmtree(stage, ignore_errors=True)
            if crops.exists() or stage.exists():
                raise OSError(f"could not remove all files of {event!r} under {settings.data_dir}; run again")
            _delete_files(reports)
    return ForgetEventResult(event, dry_run, counts, crop_files, stage_files, reports)
