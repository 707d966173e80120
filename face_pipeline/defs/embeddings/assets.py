"""face_embeddings: one identity vector per face, from the active embedder."""

import time

import dagster as dg
import numpy as np

from face_pipeline.defs.failures import user_errors_as_failures
from face_pipeline.defs.models import embedder_code_version, model_versioned_asset
from face_pipeline.defs.observability import progress_logger
from face_pipeline.lib.ingest import embed_faces, load_faces
from face_pipeline.lib.settings import Settings


def build_face_embeddings(settings: Settings) -> dg.AssetsDefinition:
    """The asset, versioned by the model id of the embedder that `settings` select."""

    @model_versioned_asset(
        settings,
        embedder_code_version,
        kinds={"python", "numpy"},
        deps=["face_crops"],
        description="One identity vector per face crop, staged in DATA_DIR/stage/<event>/vectors.npz "
        "until face_vectors writes them to pgvector.",
    )
    def face_embeddings(context: dg.AssetExecutionContext, settings: Settings) -> dg.MaterializeResult:
        t0 = time.perf_counter()
        with user_errors_as_failures():
            faces = load_faces(settings, context.partition_key)
            emb = embed_faces(settings, faces, progress=progress_logger(context, "embedding faces"))
        seconds = time.perf_counter() - t0
        norms = np.linalg.norm(emb.vectors, axis=1) if len(emb.vectors) else np.zeros(0)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(emb.face_ids),
                "vectors": len(emb.face_ids),
                "embedded": emb.embedded,
                "reused": emb.reused,
                "model_id": emb.model_id,
                "dimension": int(emb.vectors.shape[1]) if emb.vectors.ndim == 2 else 0,
                "mean_norm": float(norms.mean()) if len(norms) else 0.0,
                "seconds": round(seconds, 3),
                "ms_per_embedded_face": round(1000 * emb.seconds_embed / max(1, emb.embedded), 1),
            }
        )

    return face_embeddings
