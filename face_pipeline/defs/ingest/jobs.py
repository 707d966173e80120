"""ingest_event: the assets of one event, in order (what the sensor and backfills run)."""

import dagster as dg

from face_pipeline.defs.partitions import events_partitions

INGEST_ASSETS = ["event_photos", "face_crops", "face_embeddings", "face_vectors", "people"]

ingest_event_job = dg.define_asset_job(
    name="ingest_event",
    selection=dg.AssetSelection.assets(*INGEST_ASSETS),
    partitions_def=events_partitions,
    description="Scan, detect, embed, store and group into people one event (one partition per run).",
    tags={"face_pipeline/kind": "ingest"},
)
