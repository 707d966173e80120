"""The one partitioning of the pipeline: by event (a folder under the photos root)."""

import dagster as dg

# Keys are added by the new-event sensor or `face-pipeline ingest`, always after
# validate_event_name (lower-case letters, digits, '-', '_'): commas would break UI backfills.
events_partitions = dg.DynamicPartitionsDefinition(name="events")

# What every per-event asset shares: one partition per event, and one run per event in a backfill,
# so a failed event never marks others failed or half-written.
EVENT_ASSET = dict(
    partitions_def=events_partitions,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    group_name="face_search",
)
# The CPU-bound steps share one pool (its limit is in dagster.yaml): each already uses every core.
CPU_POOL = "face_pipeline_cpu"
