"""reembed_stale_events: after a model change, re-run the events whose vectors come from another
model, a bounded batch per tick so the machine is never flooded. Lookups keep answering from an
event's old vectors until its new ones are written (face_vectors flips the serving model atomically)."""

import dagster as dg

from face_pipeline.defs.ingest.jobs import ingest_event_job
from face_pipeline.defs.resources import FacePipeline
from face_pipeline.lib.maintenance import active_model_ids, stale_events

REEMBED_BATCH = 4


@dg.schedule(
    job=ingest_event_job,
    cron_schedule="15 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=f"Hourly: request re-embedding of up to {REEMBED_BATCH} events whose vectors were "
    "made by another detector/embedder than the active one.",
)
def reembed_stale_events(context: dg.ScheduleEvaluationContext, pipeline: FacePipeline):
    settings = pipeline.settings()
    stale = stale_events(settings, pipeline.store())
    if not stale:
        return dg.SkipReason("every event is served by the active models")
    model_id, detector_model = active_model_ids(settings)
    day = context.scheduled_execution_time.strftime("%Y%m%d") if context.scheduled_execution_time else "now"
    context.log.info(f"{len(stale)} stale event(s); requesting {stale[:REEMBED_BATCH]}")
    return [
        dg.RunRequest(
            # One request per event, model and day: retried the next day if it failed.
            run_key=f"reembed:{event}:{model_id}:{detector_model}:{day}",
            partition_key=event,
            tags={"face_pipeline/event": event, "face_pipeline/trigger": "reembed"},
        )
        for event in stale[:REEMBED_BATCH]
    ]
