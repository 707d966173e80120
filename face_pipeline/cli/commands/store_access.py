"""The databases a command works on: FACE_PIPELINE_DSN (or the embedded server started here), and
Dagster's own storage for the commands that start Dagster runs."""

import dagster as dg
import sqlalchemy.exc
from dagster_postgres.utils import DagsterPostgresException

from face_pipeline.lib.errors import SystemFault
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.store import ConnectionLost, VectorStore
from face_pipeline.lib.store.connection import first_line
from face_pipeline.runtime import prepare

#: What Dagster's storage (dagster-postgres: SQLAlchemy over psycopg2) raises when it can not reach
#: its PostgreSQL, after its own retries.
DAGSTER_STORAGE_ERRORS = (DagsterPostgresException, sqlalchemy.exc.OperationalError)


def open_store(settings: Settings) -> tuple[Settings, VectorStore]:
    """(settings with the DSN resolved, a migrated store)."""
    runtime = prepare(settings, with_dagster=False)
    store = VectorStore(runtime.settings.dsn)
    store.migrate()
    return runtime.settings, store


def dagster_storage_fault(exc: BaseException, *, during_run: bool) -> SystemFault:
    """Dagster's storage (the `dagster` database on the same server unless FACE_PIPELINE_DAGSTER_PG_URL
    says otherwise) unreachable: "cannot connect" (exit 3) before the command's runs, "lost during the
    run" (ConnectionLost, exit 4) once they have begun to record their events there."""
    why = first_line(exc.__cause__ or exc)
    if during_run:
        return ConnectionLost(
            f"lost the connection to Dagster's storage (PostgreSQL) during the run ({why}). "
            "Nothing half-written is kept; run the command again when the server is back."
        )
    return SystemFault(
        f"cannot connect to Dagster's storage (PostgreSQL): {why}. Is the server running? "
        "FACE_PIPELINE_DAGSTER_PG_URL sets another one."
    )


def dagster_instance() -> dg.DagsterInstance:
    """DAGSTER_HOME's instance (prepare() has set it up); it connects to its storage here, so a storage
    that can not be reached is "cannot connect" (exit 3), not a connection lost during the run."""
    try:
        return dg.DagsterInstance.get()
    except DAGSTER_STORAGE_ERRORS as exc:
        raise dagster_storage_fault(exc, during_run=False) from None
