"""How a run executes its steps, chosen by the `executor` setting.

- `multiprocess` (default): Dagster's multiprocess executor, every step on this machine.
- `celery`: dagster-celery's executor hands each step to Celery workers on any machine
  (`face-pipeline worker`), through the broker they share (Redis). The photos and the data folder
  are then object-store URLs and the database one PostgreSQL, so a worker needs no shared disk.

The Celery options make a step survive the loss of its worker: a step is acknowledged only when it
has finished (`task_acks_late`), a worker takes one step at a time (`worker_prefetch_multiplier`),
and a step whose worker vanished goes back to the queue after `celery_redeliver_after` seconds (the
broker's visibility timeout), where another worker takes it. A step that runs twice is harmless:
every step rewrites its event's outputs whole, under the event's run lock (lib/ingest/event_lock.py).
"""

import dagster as dg

from face_pipeline.lib.settings import Settings


def celery_config(settings: Settings) -> dict:
    """dagster-celery's executor config: the same block the runs and the workers are given."""
    return {
        "broker": settings.celery_broker,
        "backend": settings.celery_broker,
        "config_source": {
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
            "broker_connection_retry_on_startup": True,
            # Redis: a step not acknowledged this long after delivery goes back to the queue; the
            # workers look for such steps every tenth of that (kombu's default: every 100 s).
            "broker_transport_options": {
                "visibility_timeout": settings.celery_redeliver_after,
                "unacked_restore_interval": max(1.0, min(60.0, settings.celery_redeliver_after / 10)),
                "unacked_restore_throttle": 1,
            },
        },
    }


def build_executor(settings: Settings) -> dg.ExecutorDefinition:
    if settings.executor == "celery":
        from dagster_celery import (
            celery_executor,  # imported only where the celery executor is chosen
        )

        return celery_executor.configured(celery_config(settings), name="celery")
    return dg.multiprocess_executor
