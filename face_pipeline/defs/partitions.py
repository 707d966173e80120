"""The one partitioning of the pipeline: by event (a folder under the photos root)."""

import dagster as dg

# Keys are added by the new-event sensor or `face-pipeline ingest`, always after
# validate_event_name (lower-case letters, digits, '-', '_'): commas would break UI backfills.
events_partitions = dg.DynamicPartitionsDefinition(name="events")
