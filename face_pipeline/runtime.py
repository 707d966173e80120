"""The process environment the CLI prepares before it runs Dagster or the library.

One place decides: which PostgreSQL (FACE_PIPELINE_DSN, or the embedded server started here), where
Dagster's own storage lives (the `dagster` database on the same server, via dagster-postgres), and
which DAGSTER_HOME holds `dagster.yaml` (DAGSTER_HOME if the user set it, else DATA_DIR/dagster/home
with the project's `dagster.yaml` and `workspace.yaml` copied in, so an installed package works from
any folder). Environment variables are written here only for Dagster's own child processes (webserver,
daemon, code server), which read them once when they load the code location.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from face_pipeline.lib.bundled_files import dagster_yaml, workspace_yaml
from face_pipeline.lib.errors import ConfigError
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.storage import make_private_dir
from face_pipeline.lib.store import embedded_postgres
from face_pipeline.lib.store.statements import composed, statement


@dataclass(frozen=True)
class Runtime:
    settings: Settings  # dsn and dagster_pg_url resolved
    dagster_home: Path
    embedded: bool

    @property
    def workspace_file(self) -> Path:
        return self.dagster_home / "workspace.yaml"


def dagster_url_for(dsn: str) -> str:
    """Dagster's storage URL on the same server as `dsn`, database `dagster`, psycopg2 driver
    (a bare postgresql:// makes SQLAlchemy 2.1 pick psycopg 3, which dagster-postgres can not use)."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg2", path="/dagster"))


def _ensure_dagster_database(dsn: str) -> None:
    parts = urlsplit(dsn)
    admin = urlunsplit(parts._replace(path="/postgres"))
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            if not conn.execute(statement("database_exists"), {"name": "dagster"}).fetchone():
                conn.execute(composed("create_database", name=psycopg.sql.Identifier("dagster")))
    except psycopg.Error:
        pass  # no right to create databases: the user must create it (README says how)


def resolve_database(settings: Settings, *, for_dagster: bool = False) -> Settings:
    """`settings` with the DSN (and Dagster's storage URL) filled in: the embedded server is started
    here when no DSN is set."""
    if not settings.dsn:
        server = embedded_postgres.start(settings.embedded_pg_dir)
        return replace(
            settings,
            dsn=embedded_postgres.app_dsn(server),
            dagster_pg_url=settings.dagster_pg_url or embedded_postgres.dagster_storage_url(server),
        )
    if settings.dagster_pg_url:
        return settings
    if for_dagster:
        _ensure_dagster_database(settings.dsn)
    return replace(settings, dagster_pg_url=dagster_url_for(settings.dsn))


def dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME as the user set it (it must hold dagster.yaml), else a folder under DATA_DIR
    holding this project's dagster.yaml and workspace.yaml."""
    given = os.environ.get("DAGSTER_HOME")
    if given:
        home = Path(given).expanduser()
        if not (home / "dagster.yaml").is_file():
            raise ConfigError(
                f"DAGSTER_HOME={home} holds no dagster.yaml; unset DAGSTER_HOME to use the project's, or copy it there"
            )
        if not (home / "workspace.yaml").is_file():
            shutil.copyfile(workspace_yaml(), home / "workspace.yaml")
        return home
    home = make_private_dir(settings.dagster_dir / "home")
    for source in (dagster_yaml(), workspace_yaml()):
        target = home / source.name
        if not target.is_file() or target.read_bytes() != source.read_bytes():
            shutil.copyfile(source, target)
    return home


def prepare(settings: Settings, *, with_dagster: bool = True) -> Runtime:
    """Start the embedded PostgreSQL if no DSN is set; with `with_dagster`, also point Dagster at its
    storage and export the settings for Dagster's child processes."""
    embedded = not settings.dsn
    settings = resolve_database(settings, for_dagster=with_dagster)
    # not owner-only: as root, the embedded server runs as another user that must traverse it
    settings.local_dir.mkdir(parents=True, exist_ok=True)
    if not with_dagster:
        return Runtime(settings, Path(), embedded)
    home = dagster_home(settings)
    os.environ.update(settings.as_environ())
    os.environ["DAGSTER_HOME"] = str(home)
    # dagster.yaml reads these (artifacts and compute logs stay under DATA_DIR, owner-only)
    os.environ["FACE_PIPELINE_DAGSTER_ARTIFACTS"] = str(make_private_dir(settings.dagster_dir))
    os.environ["FACE_PIPELINE_DAGSTER_COMPUTE_LOGS"] = str(make_private_dir(settings.dagster_dir / "logs"))
    return Runtime(settings, home, embedded)
