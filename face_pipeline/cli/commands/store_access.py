"""The database a command works on: FACE_PIPELINE_DSN, or the embedded server started here."""

from face_pipeline.lib.settings import Settings
from face_pipeline.lib.store import VectorStore
from face_pipeline.runtime import prepare


def open_store(settings: Settings) -> tuple[Settings, VectorStore]:
    """(settings with the DSN resolved, a migrated store)."""
    runtime = prepare(settings, with_dagster=False)
    store = VectorStore(runtime.settings.dsn)
    store.migrate()
    return runtime.settings, store
