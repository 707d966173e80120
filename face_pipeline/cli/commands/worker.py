"""`worker`: a Celery worker that executes the steps of Dagster runs (FACE_PIPELINE_EXECUTOR=celery).

Start one on each machine that should do the work; they share nothing but the broker, the
PostgreSQL database (FACE_PIPELINE_DSN) and the object store that holds the photos and the data
folder (FACE_PIPELINE_PHOTOS_ROOT / FACE_PIPELINE_DATA_DIR as s3://... URLs). This is Dagster's own
`dagster-celery worker start`, given the same executor config as the runs (defs/executors.py), with
Celery's solo pool: one step at a time in the worker process itself, which keeps its models loaded
between steps and may start the step's own process pool (FACE_PIPELINE_WORKERS).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import yaml

from face_pipeline.defs.executors import celery_config
from face_pipeline.lib.errors import UserError
from face_pipeline.lib.maintenance import load_active_models
from face_pipeline.lib.settings import Settings, redact_dsn
from face_pipeline.lib.storage import make_private_dir
from face_pipeline.runtime import prepare


def add_commands(sub) -> None:
    s = sub.add_parser("worker", help="run a Celery worker for Dagster runs (FACE_PIPELINE_EXECUTOR=celery)")
    s.add_argument("--name", help="the worker's name (default: face-pipeline-<host>-<pid>)")
    s.set_defaults(run=cmd_worker)


def worker_command(config_file: Path, name: str) -> list[str]:
    dagster_celery = Path(sys.executable).with_name("dagster-celery")
    return [
        str(dagster_celery),
        "worker",
        "start",
        "-A",
        "dagster_celery.app",
        "-y",
        str(config_file),
        "-n",
        name,
        "--",
        "--pool",
        "solo",
        "--without-gossip",
        "--without-mingle",
    ]


def cmd_worker(args, settings: Settings) -> int:
    if settings.executor != "celery":
        raise UserError(
            "a worker serves runs that use the celery executor: set FACE_PIPELINE_EXECUTOR=celery "
            "(and the same FACE_PIPELINE_CELERY_BROKER) for the runs and the workers"
        )
    if not settings.dsn:
        raise UserError(
            "a worker writes to the database the runs use: set FACE_PIPELINE_DSN "
            "(an embedded server belongs to one machine)"
        )
    load_active_models(settings)  # a missing model file: said now, not in the middle of a step
    runtime = prepare(settings)
    config_file = make_private_dir(runtime.settings.local_dir / "celery") / "worker.yaml"
    config_file.write_text(yaml.safe_dump({"execution": {"config": celery_config(runtime.settings)}}))
    name = args.name or f"face-pipeline-{socket.gethostname()}-{os.getpid()}"
    print(
        f"worker {name}: broker {redact_dsn(settings.celery_broker)}, database {redact_dsn(runtime.settings.dsn)}, "
        f"photos {settings.photos_root}, data {settings.data_dir}",
        flush=True,
    )
    cmd = worker_command(config_file, name)
    # dagster-celery starts `celery` by name: the one installed beside this Python, first on PATH.
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    os.execve(cmd[0], cmd, env)  # the worker replaces this process: signals reach Celery directly
