"""new_event_folders: a new event folder adds its partition and requests its ingest; new, changed
or deleted photos in a known event request a re-run of that event only."""

import json
import time

import dagster as dg

from face_pipeline.defs.ingest.jobs import ingest_event_job
from face_pipeline.defs.partitions import events_partitions
from face_pipeline.defs.resources import FacePipeline
from face_pipeline.lib.photos.watch import plan_changes


@dg.sensor(
    job=ingest_event_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches the photos root (FACE_PIPELINE_PHOTOS_ROOT) for new event folders and changed "
    "photos; waits until a folder has been stable for FACE_PIPELINE_STABLE_SECONDS.",
)
def new_event_folders(context: dg.SensorEvaluationContext, pipeline: FacePipeline) -> dg.SensorResult:
    settings = pipeline.settings()
    requested: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    known = set(context.instance.get_dynamic_partitions(events_partitions.name))
    changes = plan_changes(
        settings.photos_root, requested, now=time.time(), stable_seconds=settings.stable_seconds, known_events=known
    )
    for name in changes.invalid_names:
        context.log.warning(
            f"skipping folder {name!r}: not a valid event name (use lower-case letters, digits, '-', '_')"
        )
    if changes.waiting:
        context.log.info(f"waiting for folders still changing: {changes.waiting}")
    run_requests = [
        dg.RunRequest(
            # The run key names the content: a repeated tick over the same files requests nothing.
            run_key=f"{event}:{changes.fingerprints[event]}",
            partition_key=event,
            tags={"face_pipeline/event": event, "face_pipeline/trigger": "sensor"},
        )
        for event in [*changes.new_events, *changes.changed_events]
    ]
    new_partitions = [e for e in changes.new_events if e not in known]
    cursor = {**requested, **changes.fingerprints}
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[events_partitions.build_add_request(new_partitions)] if new_partitions else [],
        cursor=json.dumps(cursor, sort_keys=True),
    )
