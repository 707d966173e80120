"""All steps of one event, for the CLI and scripts: the same calls, in the same order, as the
Dagster assets of the ingest_event job (event_photos, face_crops, face_embeddings, face_vectors,
people), which call them one by one; both ingests leave the same database, people included."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from face_pipeline.lib.ingest.detect import detect_faces
from face_pipeline.lib.ingest.embed import embed_faces
from face_pipeline.lib.ingest.progress import Progress, no_progress
from face_pipeline.lib.ingest.records import EmbeddingSet, FaceSet, PhotoManifest
from face_pipeline.lib.ingest.rows import build_event_write
from face_pipeline.lib.ingest.scan import scan_event
from face_pipeline.lib.people import PeopleUpdate, update_people_for_event
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.store import VectorStore, WriteSummary


@dataclass
class EventReport:
    event: str
    manifest: PhotoManifest
    faces: FaceSet
    embeddings: EmbeddingSet
    written: WriteSummary
    people: PeopleUpdate
    seconds: dict[str, float]


def ingest_event(
    settings: Settings, store: VectorStore, event: str, *, progress: Callable[[str, int, int], None] | None = None
) -> EventReport:
    """Scan, detect, embed, store and group one event into people; the same calls, in the same
    order, as the assets."""

    def step(name: str) -> Progress:
        return (lambda d, t: progress(name, d, t)) if progress else no_progress

    seconds = {}
    t = time.perf_counter()
    manifest = scan_event(settings, event, progress=step("hashing photos"))
    seconds["scan"] = time.perf_counter() - t
    t = time.perf_counter()
    faces = detect_faces(settings, manifest, progress=step("detecting faces"))
    seconds["detect"] = time.perf_counter() - t
    t = time.perf_counter()
    embeddings = embed_faces(settings, faces, progress=step("embedding faces"))
    seconds["embed"] = time.perf_counter() - t
    t = time.perf_counter()
    written = store.replace_event(build_event_write(manifest, faces, embeddings))
    seconds["write"] = time.perf_counter() - t
    t = time.perf_counter()
    people = update_people_for_event(settings, store, event)
    seconds["people"] = time.perf_counter() - t
    return EventReport(
        event, manifest, faces, embeddings, written, people, {k: round(v, 3) for k, v in seconds.items()}
    )
