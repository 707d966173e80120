"""The store: PostgreSQL + pgvector. vector_store.py is the one class the rest of the library uses;
the statements it runs are read from sql/ (statements.py), connections (connection.py), migrations
(migrations.py), binary COPY streams (binary_copy.py), per-model HNSW indexes (vector_indexes.py),
and the embedded server for a machine without one (embedded_postgres.py)."""

from face_pipeline.lib.store.connection import (
    ConnectionLost,
    command_has_connected,
    command_run,
    connection_lost,
    is_connection_loss,
    named_row,
    named_rows,
)
from face_pipeline.lib.store.records import (
    EventWrite,
    FaceMatch,
    FaceRow,
    PhotoRow,
    StoredFace,
    WriteSummary,
    event_lock_key,
    face_id_for,
)
from face_pipeline.lib.store.statements import statement, vector_statement
from face_pipeline.lib.store.vector_store import VectorStore, exact_event_search, resolve_dsn

__all__ = [
    "ConnectionLost",
    "EventWrite",
    "FaceMatch",
    "FaceRow",
    "PhotoRow",
    "StoredFace",
    "VectorStore",
    "WriteSummary",
    "command_has_connected",
    "command_run",
    "connection_lost",
    "event_lock_key",
    "exact_event_search",
    "face_id_for",
    "is_connection_loss",
    "named_row",
    "named_rows",
    "resolve_dsn",
    "statement",
    "vector_statement",
]
