"""Step 3, face_embeddings: one identity vector per face, from the crops of step 2."""

from __future__ import annotations

import io
import math
import time

import numpy as np
from PIL import Image

from face_pipeline.lib.errors import UserError
from face_pipeline.lib.ingest.event_lock import holds_event_lock
from face_pipeline.lib.ingest.progress import Progress, no_progress
from face_pipeline.lib.ingest.records import EmbeddingSet, FaceSet
from face_pipeline.lib.ingest.stage_files import detect_vectors, previous_vectors, write_vectors
from face_pipeline.lib.ingest.worker_pool import discard_worker_pool, worker_pool
from face_pipeline.lib.models import ModelFolders, crop_kind_of, get_embedder
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.storage import location_of

#: Embedding chunks per worker process (see embed_faces).
EMBED_CHUNKS_PER_WORKER = 16
#: Below this many faces per worker, starting worker processes (~0.75 s: interpreter, imports,
#: model load) costs more than it saves; the faces are embedded in this process.
EMBED_MIN_FACES_PER_WORKER = 16


def embed_chunk(args: tuple[str, ModelFolders, list[str]]) -> np.ndarray:
    embedder_name, folders, paths = args
    embedder = get_embedder(embedder_name, folders)
    crops = [np.asarray(Image.open(io.BytesIO(location_of(p).read_bytes())).convert("RGB")) for p in paths]
    return embedder.embed(crops)


@holds_event_lock(lambda faces: faces.event)
def embed_faces(
    settings: Settings,
    faces: FaceSet,
    *,
    embedder: str | None = None,
    batch_size: int = 64,
    progress: Progress = no_progress,
) -> EmbeddingSet:
    """One vector per face, reusing vectors of faces whose id and embedder are unchanged."""
    embedder_name = embedder or settings.embedder
    emb = get_embedder(embedder_name, settings.model_folders)
    if crop_kind_of(embedder_name) != faces.crop_kind:
        raise UserError(
            f"the face crops of {faces.event!r} are {faces.crop_kind!r} crops but {embedder_name} needs "
            f"{crop_kind_of(embedder_name)!r}: re-materialise face_crops with this embedder"
        )
    previous = previous_vectors(settings, faces.event, emb.model_id)
    new = [f for f in faces.faces if f.face_id not in previous]
    # Faces the detection step embedded while their crops were in memory (same model id) are taken
    # as they are; the others (another embedder than at detection) are embedded from their crop files.
    fresh: dict[str, np.ndarray] = {}
    early = detect_vectors(settings, faces.event, emb.model_id) if new else {}
    fresh.update((f.face_id, early[f.face_id]) for f in new if f.face_id in early)
    todo = [f for f in new if f.face_id not in fresh]
    t0 = time.perf_counter()
    workers = min(settings.worker_count(), len(todo) // EMBED_MIN_FACES_PER_WORKER)
    if workers > 1:
        # Many small chunks, so that the workers finish together instead of one embedding a last
        # big chunk alone: dlib's time per face does not depend on the batch size (batches of 1,
        # ~17 and 64 faces took the same time within noise: BENCHMARKS.md, ingest variants).
        batch_size = max(1, min(batch_size, math.ceil(len(todo) / (workers * EMBED_CHUNKS_PER_WORKER))))
    chunks = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    args = [(embedder_name, settings.model_folders, [str(settings.data_dir / f.crop_path) for f in c]) for c in chunks]
    workers = min(workers, len(chunks))
    done = 0
    outputs = map(embed_chunk, args) if workers <= 1 else worker_pool(workers).map(embed_chunk, args)
    try:
        for chunk, vectors in zip(chunks, outputs, strict=True):
            for f, v in zip(chunk, vectors, strict=True):
                fresh[f.face_id] = v
            done += len(chunk)
            progress(done, len(todo))
    except BaseException:
        if workers > 1:
            discard_worker_pool()
        raise
    seconds = time.perf_counter() - t0
    face_ids = [f.face_id for f in faces.faces]
    vectors = np.zeros((len(face_ids), emb.dim), dtype=np.float32)
    for i, fid in enumerate(face_ids):
        vectors[i] = fresh[fid] if fid in fresh else previous[fid]
    result = EmbeddingSet(
        faces.event, emb.model_id, emb.metric, face_ids, vectors, len(new), len(face_ids) - len(new), round(seconds, 3)
    )
    write_vectors(settings, result)
    return result
