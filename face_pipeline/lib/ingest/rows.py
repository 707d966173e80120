"""Step 4's input, face_vectors: the rows of one event, assembled from the three stage files."""

from __future__ import annotations

import numpy as np

from face_pipeline.lib.errors import UserError
from face_pipeline.lib.ingest.records import EmbeddingSet, FaceSet, PhotoManifest
from face_pipeline.lib.store.records import EventWrite, PhotoRow


def build_event_write(manifest: PhotoManifest, faces: FaceSet, embeddings: EmbeddingSet) -> EventWrite:
    """Assemble the rows of one event; photos that failed to decode are left out and reported."""
    by_id = dict(zip(embeddings.face_ids, embeddings.vectors, strict=True))
    missing = [f.face_id for f in faces.faces if f.face_id not in by_id]
    if missing:
        raise UserError(f"{len(missing)} faces of {faces.event!r} have no vector: materialise face_embeddings again")
    failed = {s.relpath for s in faces.skipped}
    photos = [
        PhotoRow(
            p.photo_id, p.relpath, p.size_bytes, p.width, p.height, p.captured_at, faces.photo_faces.get(p.photo_id, 0)
        )
        for p in manifest.photos
        if p.relpath not in failed and p.photo_id in faces.photo_faces
    ]
    keep = {p.photo_id for p in photos}
    face_rows = [f for f in faces.faces if f.photo_id in keep]
    dim = embeddings.vectors.shape[1] if embeddings.vectors.ndim == 2 else 0
    # reshape(0, -1) fails on an event without faces (all landscapes): give the dimension.
    vectors = np.asarray([by_id[f.face_id] for f in face_rows], dtype=np.float32).reshape(len(face_rows), dim)
    skipped = [(s.relpath, s.reason, s.message) for s in [*manifest.skipped, *faces.skipped]]
    return EventWrite(
        manifest.event,
        faces.detector_model,
        embeddings.model_id,
        photos,
        face_rows,
        vectors,
        skipped,
        metric=embeddings.metric,
    )
