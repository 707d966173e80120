"""Beyond one machine, run here: a backfill of three events executed by Dagster's celery executor on
two Celery workers (separate processes, each with its own scratch folder and no shared local disk),
photos and data in an S3 store (moto's server, reached by the same s3fs code path as AWS S3),
Dagster's storage and the vectors in one PostgreSQL. The first worker is killed (kill -9, its whole
process group) in the middle of a step: the step goes back to the queue, the second worker does it,
and every event ends up with exactly the rows a single-machine run gives.

Needs `redis-server` (Debian's package; .ci/run installs it) and the research photos.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest

from face_pipeline.lib.ingest import ingest_event
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.store import embedded_postgres
from face_pipeline_tests.conftest import CELEB, lfw_photo, needs_datasets

pytestmark = [
    pytest.mark.slow,
    needs_datasets,
    pytest.mark.skipif(
        not shutil.which("redis-server"), reason="redis-server is not installed (apt-get install redis-server)"
    ),
]

REPO = Path(__file__).resolve().parents[1]
BUCKET = "event-photos"
EVENTS = {
    "dist-a": [
        lfw_photo("Venus_Williams", 1),
        lfw_photo("Venus_Williams", 2),
        CELEB / "face_recognition/examples/two_people.jpg",
    ],
    "dist-b": [lfw_photo("Joseph_Biden", 1), lfw_photo("Joseph_Biden", 2), lfw_photo("Venus_Williams", 3)],
    "dist-c": [
        lfw_photo("Joseph_Biden", 3),
        lfw_photo("Venus_Williams", 4),
        CELEB / "face_recognition/examples/two_people.jpg",
    ],
}
REDELIVER_AFTER = 15  # seconds: how long a step taken by the killed worker waits before going to another


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, what: str, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on port {port} within {seconds} s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)


@pytest.fixture
def services(tmp_path, pg_server, pg_dsn):
    """redis-server (the broker) and an S3 server, both started here; the session's PostgreSQL."""
    redis_port, s3_port = _free_port(), _free_port()
    procs = []
    try:
        redis = subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        procs.append(redis)
        s3 = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        procs.append(s3)
        _wait_port(redis_port, "redis-server", redis)
        _wait_port(s3_port, "the S3 server", s3)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FACE_PIPELINE_") and k != "DAGSTER_HOME"}
        env.update(
            PYTHONPATH=str(REPO),
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
            FSSPEC_S3_ENDPOINT_URL=f"http://127.0.0.1:{s3_port}",
            FACE_PIPELINE_PHOTOS_ROOT=f"s3://{BUCKET}/photos",
            FACE_PIPELINE_DATA_DIR=f"s3://{BUCKET}/data",
            FACE_PIPELINE_DSN=pg_dsn,
            FACE_PIPELINE_DAGSTER_PG_URL=embedded_postgres.dagster_storage_url(pg_server),
            FACE_PIPELINE_EXECUTOR="celery",
            FACE_PIPELINE_CELERY_BROKER=f"redis://127.0.0.1:{redis_port}/0",
            FACE_PIPELINE_CELERY_REDELIVER_AFTER=str(REDELIVER_AFTER),
            FACE_PIPELINE_WORKERS="1",
        )
        yield env
    finally:
        for p in reversed(procs):
            _stop(p)


def _s3(env: dict):
    import fsspec

    return fsspec.filesystem(
        "s3", endpoint_url=env["FSSPEC_S3_ENDPOINT_URL"], key="testing", secret="testing", skip_instance_cache=True
    )


def _start_worker(env: dict, name: str, scratch: Path) -> tuple[subprocess.Popen, Path]:
    scratch.mkdir(mode=0o755)
    log = scratch / "worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "face_pipeline.cli", "worker", "--name", name],
        env={**env, "XDG_STATE_HOME": str(scratch / "state"), "TMPDIR": str(scratch)},
        cwd=scratch,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc, log


def _wait_for(predicate, seconds: float, what: str, procs=()) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        for p, log in procs:
            if p.poll() is not None:
                raise AssertionError(f"{what}: a process exited early:\n{Path(log).read_text()[-3000:]}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _rows(dsn: str, event: str) -> dict:
    """What an event holds, independent of the event's name: photos, face boxes, vectors."""
    with psycopg.connect(dsn) as conn:
        photos = {r for r in conn.execute("SELECT photo_id, path FROM photos WHERE event = %s", (event,))}
        faces = conn.execute(
            "SELECT f.photo_id, f.face_index, ARRAY[f.box_left, f.box_top, f.box_right, f.box_bottom], "
            "v.embedding::text, v.model_id FROM faces f JOIN face_vectors v ON v.face_id = f.face_id "
            "WHERE f.event = %s ORDER BY 1, 2",
            (event,),
        ).fetchall()
    return {
        "photos": photos,
        "faces": [(p, i, tuple(b)) for p, i, b, _, _ in faces],
        "vectors": np.array([np.array(json.loads(v)) for *_, v, _ in faces]),
        "models": {m for *_, m in faces},
    }


def test_backfill_on_celery_workers_with_s3_survives_a_killed_worker(services, tmp_path, pg_dsn, store):
    env = services
    fs = _s3(env)
    fs.mkdir(BUCKET)
    for event, photos in EVENTS.items():
        for i, photo in enumerate(photos):
            fs.pipe(f"{BUCKET}/photos/{event}/{i:02d}-{photo.name}", photo.read_bytes())

    first, first_log = _start_worker(env, "first", tmp_path / "worker-1")
    second = None
    backfill_log = tmp_path / "backfill.log"
    backfill = subprocess.Popen(
        [sys.executable, "-m", "face_pipeline.cli", "backfill", *EVENTS],
        env={**env, "XDG_STATE_HOME": str(tmp_path / "coordinator")},
        cwd=tmp_path,
        stdout=open(backfill_log, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # Kill the first worker once it is in the middle of a step: while it holds an event's run lock,
        # seen from PostgreSQL like any other holder.
        watch = psycopg.connect(pg_dsn, autocommit=True)

        def first_is_in_a_step() -> bool:
            names = [
                r[0]
                for r in watch.execute(
                    "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'face_pipeline run lock%%'"
                )
            ]
            tree = {first.pid} | {c.pid for c in _children(first.pid)}
            return any(int(re.search(r" pid (\d+)", n).group(1)) in tree for n in names)

        _wait_for(
            first_is_in_a_step, 240, "the first worker to start a step", [(first, first_log), (backfill, backfill_log)]
        )
        watch.close()
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        second, second_log = _start_worker(env, "second", tmp_path / "worker-2")
        backfill.wait(timeout=600)
    finally:
        _stop(backfill)
        for w in (first, second):
            if w is not None:
                _stop(w)
    out = backfill_log.read_text()
    assert backfill.returncode == 0, out[-4000:]
    assert "3 event(s) done, 0 failed" in out, out[-4000:]
    # The step the first worker had taken when it died went back to the queue and the second did it.
    taken = set(re.findall(r"Task execute_plan\[([0-9a-f-]+)\] received", first_log.read_text()))
    done = set(re.findall(r"Task execute_plan\[([0-9a-f-]+)\] succeeded", second_log.read_text()))
    assert taken and taken <= done, (taken, done)

    # Every event holds exactly what one machine makes of the same photos (same content ids, boxes
    # and vectors), and the work lived in the object store: crops and stage files there, none on the
    # workers' own disks.
    local = tmp_path / "single-machine"
    for event, photos in EVENTS.items():
        folder = local / "photos" / f"single-{event[-1]}"
        folder.mkdir(parents=True)
        for i, photo in enumerate(photos):
            shutil.copy(photo, folder / f"{i:02d}-{photo.name}")
    settings = Settings.from_env(photos_root=local / "photos", data_dir=local / "data", dsn=pg_dsn, workers=1)
    for event in EVENTS:
        ingest_event(settings, store, f"single-{event[-1]}")
        distributed, single = _rows(pg_dsn, event), _rows(pg_dsn, f"single-{event[-1]}")
        assert distributed["photos"] == single["photos"] and len(distributed["photos"]) == 3
        assert distributed["faces"] == single["faces"] and len(distributed["faces"]) >= 3
        assert distributed["models"] == single["models"]
        np.testing.assert_allclose(distributed["vectors"], single["vectors"], atol=1e-5)
        assert fs.ls(f"{BUCKET}/data/stage/{event}") and fs.find(f"{BUCKET}/data/crops/{event}")
    for scratch in (tmp_path / "worker-1", tmp_path / "worker-2"):
        assert not [p for p in scratch.rglob("*") if p.suffix in (".png", ".npz") or p.name == "faces.json"]


def _children(pid: int):
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
