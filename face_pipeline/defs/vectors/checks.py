"""Database-level checks on what lookups actually read."""

import dagster as dg

from face_pipeline.defs.resources import FacePipeline


@dg.asset_check(
    asset="face_vectors",
    description="every face of every event has a vector of the model that serves the event's lookups",
)
def serving_vectors_complete(pipeline: FacePipeline) -> dg.AssetCheckResult:
    rows = pipeline.store().check_serving_vectors()
    incomplete = [(r.event, r.model_id, r.missing) for r in rows if r.missing]
    return dg.AssetCheckResult(
        passed=not incomplete,
        metadata={
            "events_checked": len(rows),
            "incomplete_events": dg.MetadataValue.json([list(r) for r in incomplete]),
        },
    )
