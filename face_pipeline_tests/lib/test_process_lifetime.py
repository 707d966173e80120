"""Issue #26, items 1-2: nothing of a killed CLI run keeps running, and the embedded PostgreSQL is
stopped by its last live user even after a holder was killed with `kill -9`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from face_pipeline.lib.store import embedded_postgres
from face_pipeline_tests.conftest import lfw_photo, needs_datasets

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def own_data_dir():
    """A data folder of its own with a short path (Unix socket names are limited to ~100 bytes);
    whatever server a test left running in it is stopped afterwards."""
    root = Path(tempfile.mkdtemp(prefix="fp-life-"))
    root.chmod(0o755)  # as root, PostgreSQL runs as user pgserver, who must traverse it
    yield root
    if embedded_postgres.postmaster_status(root / "data" / "pg") is not None:
        embedded_postgres.start(root / "data" / "pg")
        embedded_postgres.stop(root / "data" / "pg")
    shutil.rmtree(root, ignore_errors=True)


def _cli_env(root: Path, workers: int = 2) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACE_PIPELINE_")}
    env.update(
        PYTHONPATH=str(REPO),
        FACE_PIPELINE_PHOTOS_ROOT=str(root / "photos"),
        FACE_PIPELINE_DATA_DIR=str(root / "data"),
        FACE_PIPELINE_WORKERS=str(workers),
    )
    return env


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.add(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _name(pid: int) -> str:
    try:
        return psutil.Process(pid).name()
    except psutil.NoSuchProcess:
        return ""


START_AND_WAIT = """
import sys, time
from face_pipeline.lib.store import embedded_postgres
embedded_postgres.start(sys.argv[1])
print("READY", flush=True)
time.sleep(600)
"""

START_AND_EXIT = """
import sys
from face_pipeline.lib.store import embedded_postgres
embedded_postgres.start(sys.argv[1])
"""


def _signal_state(pid: int) -> str:
    """The process's blocked and ignored signal masks (/proc), for a failure message."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError as e:
        return str(e)
    return ", ".join(x for x in lines if x.startswith(("SigBlk", "SigIgn", "State")))


def _default_signals() -> None:
    # A suite started as a background job runs with SIGINT ignored, and Dagster's in-process
    # execution then maps SIGTERM to SIGINT's handling, i.e. ignores it too; children inherit
    # "ignore" across exec. The tests below end their children with SIGTERM, as a user would.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def _python(code: str, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_signals,
        **kw,
    )


def test_stale_handles_of_dead_or_foreign_pids_are_ignored_and_the_last_user_stops_the_server(own_data_dir):
    pg_dir = own_data_dir / "data" / "pg"
    first = _python(START_AND_EXIT, str(pg_dir))  # creates the database folder, stops at its exit
    assert first.wait(120) == 0, first.stderr.read()
    assert embedded_postgres.postmaster_status(pg_dir) is None

    dead = subprocess.Popen(["true"])
    dead.wait()
    foreign = subprocess.Popen(["sleep", "120"])  # alive, but not the process that wrote its entry
    try:
        (pg_dir / embedded_postgres.HANDLE_PIDS).write_text(json.dumps([dead.pid, 1, foreign.pid]))
        (pg_dir.parent / f".pg{embedded_postgres.HANDLE_OWNERS}").write_text(
            json.dumps({str(dead.pid): "12345", str(foreign.pid): "1", "1": "2"})
        )  # start times that do not match
        run = _python(START_AND_EXIT, str(pg_dir))
        assert run.wait(120) == 0, run.stderr.read()
        # Before the fix pgserver saw three other holders and left the server running.
        assert embedded_postgres.postmaster_status(pg_dir) is None
        assert json.loads((pg_dir / embedded_postgres.HANDLE_PIDS).read_text()) == []
    finally:
        foreign.kill()
        foreign.wait()


def test_a_live_holder_keeps_the_server_until_it_exits(own_data_dir):
    pg_dir = own_data_dir / "data" / "pg"
    holder = _python(START_AND_WAIT, str(pg_dir))
    try:
        assert holder.stdout.readline().strip() == "READY"
        run = _python(START_AND_EXIT, str(pg_dir))
        assert run.wait(120) == 0, run.stderr.read()
        assert embedded_postgres.postmaster_status(pg_dir) == "ready"  # the holder still uses it
        assert embedded_postgres.live_handles(pg_dir) == [holder.pid]
    finally:
        signals = _signal_state(holder.pid)
        holder.terminate()  # SIGTERM: Python dies without atexit hooks, as after kill -9
        try:
            holder.wait(30)
        except subprocess.TimeoutExpired:
            holder.kill()
            raise AssertionError(f"the holder outlived SIGTERM by 30 s ({signals})") from None
    run = _python(START_AND_EXIT, str(pg_dir))
    assert run.wait(120) == 0, run.stderr.read()
    assert embedded_postgres.postmaster_status(pg_dir) is None


@needs_datasets
def test_kill_9_of_a_cli_ingest_leaves_no_process_and_the_next_run_stops_the_database(own_data_dir):
    folder = own_data_dir / "photos" / "gala"
    folder.mkdir(parents=True)
    for who in ("Tony_Blair", "Venus_Williams"):
        for n in range(1, 13):
            shutil.copy(lfw_photo(who, n), folder / f"{who}-{n:02d}.jpg")
    env = _cli_env(own_data_dir, workers=2)
    cli = subprocess.Popen(
        [sys.executable, "-m", "face_pipeline.cli", "ingest", "gala"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    crops = own_data_dir / "data" / "crops" / "gala"
    tree: set[int] = set()
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and cli.poll() is None:
            tree |= {p.pid for p in psutil.Process(cli.pid).children(recursive=True)}
            if len(tree) >= 3 and crops.is_dir() and any(crops.rglob("*.png")):
                break  # a forkserver and two workers, busy detecting
            time.sleep(0.05)
        tree |= {p.pid for p in psutil.Process(cli.pid).children(recursive=True)}
    finally:
        cli.send_signal(signal.SIGKILL)
        cli.wait(30)
    assert cli.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"
    # The embedded PostgreSQL (started by the run, detached from it) stays for the next run to stop.
    tree = {pid for pid in tree if _name(pid) != "postgres"}
    assert len(tree) >= 3, tree
    deadline = time.monotonic() + 10
    while _alive(tree) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(tree), [psutil.Process(p).cmdline() for p in _alive(tree)]  # they lived on under init

    pg_dir = own_data_dir / "data" / "pg"
    assert embedded_postgres.postmaster_status(pg_dir) == "ready"  # nobody stopped it: the CLI was killed
    rerun = subprocess.run(
        [sys.executable, "-m", "face_pipeline.cli", "ingest", "gala"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "24 photos" in rerun.stdout
    assert embedded_postgres.postmaster_status(pg_dir) is None  # the next run stopped it at its end
