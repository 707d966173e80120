"""`face-pipeline ui` for real: the webserver and daemon on the embedded PostgreSQL, the sensor
noticing an event folder, the queued run launched and succeeding; then a clean stop on SIGTERM."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from face_pipeline_tests.conftest import CELEB, needs_datasets


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["data"]


def _cmdline(p: psutil.Process) -> list[str]:
    """A child's command line; [] for one that has just exited (a zombie until its parent reaps it)."""
    try:
        return p.cmdline()
    except (psutil.ZombieProcess, psutil.NoSuchProcess):
        return []


RUNS = "{ runsOrError(limit: 10) { ... on Runs { results { status tags { key value } } } } }"
DAEMONS = "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"


@needs_datasets
def test_ui_command_runs_daemon_sensor_and_queued_run_on_embedded_postgres(tmp_path):
    data = tmp_path / "data"
    photos = tmp_path / "photos"
    (photos / "gala").mkdir(parents=True)
    shutil.copyfile(CELEB / "face_recognition/examples/two_people.jpg", photos / "gala" / "two.jpg")
    old = time.time() - 600
    os.utime(photos / "gala" / "two.jpg", (old, old))
    os.utime(photos / "gala", (old, old))
    tmp_path.chmod(0o755)  # the embedded server runs as another user when the tests run as root
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACE_PIPELINE_") and k != "DAGSTER_HOME"}
    env.update(
        FACE_PIPELINE_PHOTOS_ROOT=str(photos),
        FACE_PIPELINE_DATA_DIR=str(data),
        FACE_PIPELINE_STABLE_SECONDS="5",
        FACE_PIPELINE_WORKERS="1",
    )
    log = open(tmp_path / "ui.log", "w")
    # Started as a shell starts a background job (`face-pipeline ui &`): with SIGINT ignored.
    proc = subprocess.Popen(
        [sys.executable, "-m", "face_pipeline.cli", "ui", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    stopped = False
    try:
        deadline = time.time() + 240
        statuses, daemons = [], {}
        while time.time() < deadline:
            time.sleep(3)
            if proc.poll() is not None:
                pytest.fail(f"the UI command exited: {(tmp_path / 'ui.log').read_text()[-2000:]}")
            try:
                daemons = {
                    d["daemonType"]: d["healthy"]
                    for d in _graphql(port, DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
                }
                runs = _graphql(port, RUNS)["runsOrError"]["results"]
            except OSError:
                continue
            statuses = [(r["status"], {t["key"]: t["value"] for t in r["tags"]}) for r in runs]
            if any(s == "SUCCESS" for s, _ in statuses):
                break
        assert daemons.get("SENSOR") and daemons.get("SCHEDULER") and daemons.get("QUEUED_RUN_COORDINATOR")
        [(status, tags)] = statuses
        assert status == "SUCCESS"
        assert tags["dagster/partition"] == "gala" and tags["dagster/sensor_name"] == "new_event_folders"

        # A clean stop: one SIGTERM (what systemd and Docker send) ends the webserver, the daemon,
        # the code server and the embedded PostgreSQL within 15 s, and frees the port.
        family = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(_cmdline(p)) for p in family)
        assert "dagster_webserver" in names and "dagster._daemon" in names and "postgres" in names
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        stopped = True
        _, alive = psutil.wait_procs(family, timeout=max(0.1, 15 - (time.monotonic() - t0)))
        assert not alive, f"still running after the stop: {[(p.pid, _cmdline(p)) for p in alive]}"
        assert time.monotonic() - t0 < 15
        with socket.socket() as s:  # the port is free again: a new server can listen on it
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            s.bind(("127.0.0.1", port))
            s.listen()
        text = (tmp_path / "ui.log").read_text()
        assert "Traceback" not in text and "does not match" not in text  # no code-location name warning
    finally:
        if not stopped:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):  # keep the real failure, not this one
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()
