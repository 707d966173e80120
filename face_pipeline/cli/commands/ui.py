"""`ui`: the Dagster webserver and daemon (`dagster dev`) on this project's database, and a clean stop.

Stopping (Ctrl-C, or SIGTERM from systemd, Docker or a process manager) ends, in order: the webserver,
the daemon and the code server (through `dagster dev`'s own shutdown), anything of theirs still alive
after a grace period, then the embedded PostgreSQL. Nothing is left listening or retrying.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil

from face_pipeline.lib.settings import Settings, redact_dsn
from face_pipeline.runtime import prepare

#: `dagster dev` asks its webserver and daemon to stop and waits for them; what is still alive after
#: this many seconds is killed, so that the whole stop stays well within 15 s.
GRACE_SECONDS = 8.0


def add_commands(sub) -> None:
    s = sub.add_parser("ui", help="start the Dagster UI (webserver + daemon)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=3000)
    s.set_defaults(run=cmd_ui)


class StopRequest:
    """Turns SIGINT and SIGTERM into a flag. A second signal during the stop changes nothing: the
    stop already under way is the one that ends everything, in order."""

    def __init__(self) -> None:
        self.signal: int | None = None
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._record)

    def _record(self, signum, frame) -> None:
        if self.signal is None:
            self.signal = signum


def cmd_ui(args, settings: Settings) -> int:
    runtime = prepare(settings)
    print(
        f"database: {redact_dsn(runtime.settings.dsn)}; DAGSTER_HOME={runtime.dagster_home}; "
        f"UI on http://{args.host}:{args.port}",
        flush=True,
    )
    # Installed before the child starts: a shell starts background jobs with SIGINT ignored, and
    # `dagster dev` maps SIGTERM to its SIGINT handling, so a child that inherited "ignore" would
    # ignore both. A Python handler here is reset to the default in the child at exec.
    stop = StopRequest()
    cmd = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(runtime.workspace_file),
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    # Its own process group: the webserver, daemon, code servers and the runs they launch all land
    # in it, so the stop can reach every one of them even after `dagster dev` itself has exited.
    dev = subprocess.Popen(cmd, cwd=runtime.dagster_home, start_new_session=True)
    while dev.poll() is None and stop.signal is None:
        time.sleep(0.2)
    if stop.signal is None:
        print(f"dagster dev exited with code {dev.returncode}", file=sys.stderr)
    stop_process_group(dev, GRACE_SECONDS)
    return 0 if stop.signal is not None else (dev.returncode or 1)
    # the embedded PostgreSQL stops at interpreter exit, after every Dagster process is gone


def stop_process_group(leader: subprocess.Popen, grace: float) -> None:
    """Ask `leader` (dagster dev) to shut down, wait up to `grace` seconds, then kill whatever of its
    process group and descendants is still alive."""
    try:
        family = psutil.Process(leader.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    if leader.poll() is None:
        leader.send_signal(signal.SIGINT)  # dagster dev: stop the webserver and daemon, then exit
        try:
            leader.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(leader.pid, signal.SIGKILL)  # everything left in the group
    except (ProcessLookupError, PermissionError):
        pass
    for proc in family:  # and any descendant that left the group
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=3)
    if leader.poll() is None:
        leader.wait(3)
