"""The process environment the CLI prepares before it runs Dagster or the library.

One place decides: which PostgreSQL (FACE_PIPELINE_DSN, or the embedded server started here), where
Dagster's own storage lives (the `dagster` database on the same server, via dagster-postgres), and
which DAGSTER_HOME holds dagster.yaml (this project's folder unless DAGSTER_HOME is set).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from face_pipeline.lib.settings import ENV_PREFIX, Settings, make_private_dir

PROJECT_DIR = Path(__file__).resolve().parents[1]


@dataclass
class Runtime:
    settings: Settings
    dsn: str
    dagster_url: str
    dagster_home: Path
    embedded: bool


def dagster_url_for(dsn: str) -> str:
    """Dagster's storage URL on the same server as `dsn`, database `dagster`, psycopg2 driver."""
    parts = urlsplit(dsn)
    scheme = "postgresql+psycopg2"
    return urlunsplit(parts._replace(scheme=scheme, path="/dagster"))


def _ensure_dagster_database(dsn: str) -> None:
    import psycopg

    parts = urlsplit(dsn)
    admin = urlunsplit(parts._replace(path="/postgres"))
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'dagster'").fetchone():
                conn.execute('CREATE DATABASE "dagster"')
    except psycopg.Error:
        pass  # no right to create databases: the user must create it (README says how)


def prepare(settings: Settings | None = None, *, with_dagster: bool = True) -> Runtime:
    """Start the embedded PostgreSQL if no DSN is set, and export what Dagster's processes need."""
    settings = settings or Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    embedded = not settings.dsn
    if embedded:
        from face_pipeline.lib import embedded_postgres

        server = embedded_postgres.start(settings.embedded_pg_dir)
        dsn = embedded_postgres.app_dsn(server)
        dagster_url = embedded_postgres.dagster_storage_url(server)
    else:
        dsn = settings.dsn
        dagster_url = os.environ.get(ENV_PREFIX + "DAGSTER_PG_URL") or dagster_url_for(dsn)
        if with_dagster and not os.environ.get(ENV_PREFIX + "DAGSTER_PG_URL"):
            _ensure_dagster_database(dsn)
    os.environ[ENV_PREFIX + "DSN"] = dsn
    os.environ[ENV_PREFIX + "PHOTOS_ROOT"] = str(settings.photos_root)
    os.environ[ENV_PREFIX + "DATA_DIR"] = str(settings.data_dir)
    os.environ[ENV_PREFIX + "DETECTOR"] = settings.detector
    os.environ[ENV_PREFIX + "EMBEDDER"] = settings.embedder
    home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_DIR)
    if with_dagster:
        os.environ[ENV_PREFIX + "DAGSTER_PG_URL"] = dagster_url
        os.environ.setdefault(ENV_PREFIX + "DAGSTER_ARTIFACTS", str(make_private_dir(settings.data_dir / "dagster")))
        os.environ.setdefault(ENV_PREFIX + "DAGSTER_COMPUTE_LOGS", str(make_private_dir(settings.data_dir / "dagster" / "logs")))
        if not (home / "dagster.yaml").is_file():
            raise FileNotFoundError(f"{home}/dagster.yaml not found; set DAGSTER_HOME to the folder that holds it")
        os.environ["DAGSTER_HOME"] = str(home)
    return Runtime(Settings.from_env(), dsn, dagster_url, home, embedded)
