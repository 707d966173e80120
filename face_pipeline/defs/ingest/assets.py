"""event_photos: which photos an event folder holds, with their content ids."""

import time

import dagster as dg

from face_pipeline.defs.failures import user_errors_as_failures
from face_pipeline.defs.observability import progress_logger, skipped_markdown
from face_pipeline.defs.partitions import EVENT_ASSET
from face_pipeline.defs.resources import FacePipeline
from face_pipeline.lib.ingest import scan_event


@dg.asset(
    **EVENT_ASSET,
    kinds={"python", "file"},
    description="Photos of one event folder (<photos root>/<event>/...), identified by content hash; "
    "unusable files are listed with the reason.",
    retry_policy=dg.RetryPolicy(max_retries=1, delay=2),
)
def event_photos(context: dg.AssetExecutionContext, pipeline: FacePipeline) -> dg.MaterializeResult:
    settings = pipeline.settings()
    t0 = time.perf_counter()
    with user_errors_as_failures():
        manifest = scan_event(settings, context.partition_key, progress=progress_logger(context, "hashing photos"))
    context.log.info(
        f"{len(manifest.photos)} photos ({manifest.new} new, {manifest.changed} changed, "
        f"{manifest.unchanged} unchanged, {manifest.removed} removed), {len(manifest.skipped)} files skipped"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(manifest.photos),
            "photos": len(manifest.photos),
            "new": manifest.new,
            "changed": manifest.changed,
            "unchanged": manifest.unchanged,
            "removed": manifest.removed,
            "skipped_files": len(manifest.skipped),
            "skipped": dg.MetadataValue.md(skipped_markdown(manifest.skipped)),
            "seconds": round(time.perf_counter() - t0, 3),
        }
    )
