"""face_vectors: the event's rows in PostgreSQL + pgvector, written in one transaction."""

import time

import dagster as dg
import numpy as np

from face_pipeline.defs.failures import user_errors_as_failures
from face_pipeline.defs.partitions import EVENT_ASSET
from face_pipeline.defs.resources import FacePipeline
from face_pipeline.lib.ingest import build_event_write, load_embeddings, load_faces, load_manifest
from face_pipeline.lib.settings import redact_dsn

CHECKS = [
    dg.AssetCheckSpec(
        "one_vector_per_face",
        asset="face_vectors",
        description="every face written has exactly one vector of the model",
    ),
    dg.AssetCheckSpec(
        "vectors_finite_and_sized",
        asset="face_vectors",
        description="no NaN/inf and the model's dimension in every vector",
    ),
]


@dg.asset(
    **EVENT_ASSET,
    kinds={"postgres"},
    deps=["face_embeddings"],
    check_specs=CHECKS,
    retry_policy=dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL),
    description="Photos, faces and vectors of the event in PostgreSQL (tables photos, faces, "
    "face_vectors); replaces the event's rows for this model in one transaction, then makes this "
    "model the one that answers the event's lookups.",
)
def face_vectors(context: dg.AssetExecutionContext, pipeline: FacePipeline) -> dg.MaterializeResult:
    settings = pipeline.settings()
    event = context.partition_key
    t0 = time.perf_counter()
    with user_errors_as_failures():
        manifest = load_manifest(settings, event)
        write = build_event_write(manifest, load_faces(settings, event), load_embeddings(settings, event))
    vecs = write.vectors
    finite = bool(np.isfinite(vecs).all()) if vecs.size else True
    dims = {int(vecs.shape[1])} if vecs.ndim == 2 and len(vecs) else set()
    ids_unique = len({f.face_id for f in write.faces}) == len(write.faces)
    if not finite:
        # Refuse before writing: the previous rows of the event stay as they were.
        raise dg.Failure(f"{event}: some vectors contain NaN or inf; nothing was written")
    store = pipeline.store()
    summary = store.replace_event(write)
    seconds = time.perf_counter() - t0
    context.log.info(
        f"{event}: wrote {summary.photos} photos, {summary.faces} faces, {summary.vectors} vectors "
        f"({summary.photos_removed} photos removed) to {redact_dsn(store.dsn)}"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": summary.vectors,
            "photos": summary.photos,
            "faces": summary.faces,
            "vectors": summary.vectors,
            "photos_removed": summary.photos_removed,
            "skipped_files": summary.skipped,
            "model_id": write.model_id,
            "detector_model": write.detector_model,
            "database": redact_dsn(store.dsn),
            "seconds": round(seconds, 3),
            # The same counts for programs (the CLI's backfill reads this, never the keys above).
            "summary": dg.MetadataValue.json(
                {
                    "event": event,
                    "photos": summary.photos,
                    "faces": summary.faces,
                    "vectors": summary.vectors,
                    "new": manifest.new,
                    "changed": manifest.changed,
                    "unchanged": manifest.unchanged,
                    "removed": manifest.removed,
                    "skipped_files": summary.skipped,
                    "model_id": write.model_id,
                    "detector_model": write.detector_model,
                }
            ),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="one_vector_per_face",
                passed=ids_unique and summary.vectors == summary.faces,
                metadata={"faces": summary.faces, "vectors": summary.vectors},
            ),
            dg.AssetCheckResult(
                check_name="vectors_finite_and_sized",
                passed=finite and len(dims) <= 1,
                metadata={"dimensions": str(sorted(dims))},
            ),
        ],
    )
