"""Applying the numbered files of `sql/` in order, once each, recorded in `schema_migrations`."""

from __future__ import annotations

import hashlib
import threading

from face_pipeline.lib.bundled_files import sql_dir
from face_pipeline.lib.errors import SystemFault
from face_pipeline.lib.store.connection import named_rows, open_connection
from face_pipeline.lib.store.records import event_lock_key
from face_pipeline.lib.store.statements import statement

#: The databases this process has migrated (or seen migrated). A Dagster step asks for its store
#: many times; one round of migrations per process and database is enough.
_migrated: set[str] = set()
_migrated_lock = threading.Lock()


def ensure_migrated(dsn: str, timeout: int = 10) -> list[str]:
    """`migrate`, unless this process already did it for this DSN; returns what it applied.

    An explicit `migrate` always runs, so a database emptied or recreated under the same DSN (the
    tests' `store` fixture) gets its schema back from that call; `forget_migrated` drops the memory."""
    with _migrated_lock:
        if dsn in _migrated:
            return []
        return migrate(dsn, timeout)


def forget_migrated(dsn: str | None = None) -> None:
    """Make the next `ensure_migrated` of `dsn` (of every DSN when None) run the migrations again."""
    with _migrated_lock:
        if dsn is None:
            _migrated.clear()
        else:
            _migrated.discard(dsn)


def migrate(dsn: str, timeout: int = 10) -> list[str]:
    """Apply the numbered files in sql/ that this database has not seen; returns their names."""
    files = sorted(p for p in sql_dir().glob("[0-9][0-9][0-9]_*.sql"))
    applied_now: list[str] = []
    with open_connection(dsn, timeout=timeout, with_vectors=False) as conn:
        conn.execute(statement("take_event_lock"), {"key": event_lock_key("__migrations__")})
        conn.execute(statement("create_schema_migrations"))
        done = {r["version"]: r["checksum"] for r in named_rows(conn, statement("applied_migration_checksums"))}
        for path in files:
            version = int(path.name[:3])
            text = path.read_text()
            checksum = hashlib.sha256(text.encode()).hexdigest()[:16]
            if version in done:
                if done[version] != checksum:
                    raise SystemFault(
                        f"{path.name} changed after it was applied (checksum {done[version]} -> {checksum}); "
                        "add a new numbered file instead of editing an applied one"
                    )
                continue
            conn.execute(text)
            conn.execute(statement("record_migration"), {"version": version, "name": path.name, "checksum": checksum})
            applied_now.append(path.name)
    _migrated.add(dsn)
    return applied_now


def applied_migrations(dsn: str, timeout: int = 10) -> list[tuple[int, str, object]]:
    """(version, name, applied_at) of each applied file, as named tuples."""
    import psycopg
    from psycopg.rows import namedtuple_row

    with open_connection(dsn, timeout=timeout, with_vectors=False) as conn:
        try:
            return named_rows(conn, statement("applied_migrations"), row_factory=namedtuple_row)
        except psycopg.errors.UndefinedTable:
            return []
