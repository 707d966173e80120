"""Ingesting an event, in the steps the Dagster assets run one by one:

    scan.py    scan_event       -> PhotoManifest   (event_photos)
    detect.py  detect_faces     -> FaceSet         (face_crops: boxes, landmarks, crop files)
    embed.py   embed_faces      -> EmbeddingSet    (face_embeddings: one vector per face)
    rows.py    build_event_write, then VectorStore.replace_event (face_vectors)
    run.py     ingest_event: all of them, for the CLI and scripts

Each step keeps its result in the event's stage files (stage_files.py) and reuses what did not change;
the CPU-heavy steps share a pool of worker processes (worker_pool.py); one run at a time per event
(event_lock.py).
"""

from face_pipeline.lib.ingest.detect import detect_faces
from face_pipeline.lib.ingest.embed import embed_faces
from face_pipeline.lib.ingest.records import EmbeddingSet, FaceSet, PhotoEntry, PhotoManifest
from face_pipeline.lib.ingest.rows import build_event_write
from face_pipeline.lib.ingest.run import EventReport, ingest_event
from face_pipeline.lib.ingest.scan import scan_event
from face_pipeline.lib.ingest.stage_files import (
    load_embeddings,
    load_faces,
    load_manifest,
)

__all__ = [
    "EmbeddingSet",
    "EventReport",
    "FaceSet",
    "PhotoEntry",
    "PhotoManifest",
    "build_event_write",
    "detect_faces",
    "embed_faces",
    "ingest_event",
    "load_embeddings",
    "load_faces",
    "load_manifest",
    "scan_event",
]
