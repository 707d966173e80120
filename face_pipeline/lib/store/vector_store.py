"""The vector store: PostgreSQL + pgvector, reached through psycopg 3.

Every statement comes from `sql/` by name (statements.py). Writes of an event happen in one
transaction under the event's advisory lock, so a crash, a dropped connection or a second run of the
same event leaves either the old rows or the new rows, never a mixture.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import psycopg
from psycopg import sql
from psycopg.rows import dict_row, namedtuple_row

from face_pipeline.lib.errors import SystemFault
from face_pipeline.lib.settings import Settings, redact_dsn
from face_pipeline.lib.store import binary_copy, embedded_postgres, migrations
from face_pipeline.lib.store.connection import (
    ConnectionLost,
    KeptConnections,
    first_line,
    is_connection_loss,
    named_row,
    named_rows,
    open_connection,
)
from face_pipeline.lib.store.records import (
    EventWrite,
    FaceMatch,
    WriteSummary,
    event_lock_key,
)
from face_pipeline.lib.store.statements import statement, vector_statement
from face_pipeline.lib.store.vector_indexes import ensure_vector_index

#: hnsw.ef_search of a lookup across all events (the candidates HNSW keeps while it searches; at
#: least 2 x limit). 1000, pgvector's largest: where one person's faces and their neighbours form
#: dense clusters (the search benchmark's identities all derive from ~2,500 real faces, ~1,200
#: synthetic faces per real one at 3 M), the greedy walk at a narrow beam settles in the wrong part
#: of the graph and returns none of the true top-10 (recall 0, 2 queries of 200 at 3 M). Reproduced
#: at 300,000 faces drawn from 100 real faces (3,000 per real face): 7 of 1,000 queries at recall 0
#: with ef_search 200, 5 at 400, 2 at 600, none at 1000 (worst 0.90), for p50 4.6 -> 7.2 ms. The
#: iterative scan does not help (it resumes from the same trapped candidates); only a wider beam did.
HNSW_EF_SEARCH = 1000
#: A lookup within some events reads their rows exactly (bitmap scan + sort, recall 1) up to this
#: many rows: ~1.5 us a row, so ~30 ms at the limit on 2 busy cores (BENCHMARKS.md).
EXACT_MAX_ROWS = 20_000
#: Beyond it, HNSW with an iterative scan (pgvector 0.8) keeps walking the graph until `limit`
#: rows of those events have come: ~3 ms, recall@10 >= 0.99 when the events hold at least this
#: share of the model's rows. A smaller share would leave the filtered walk short of neighbours,
#: so such a set is still read exactly, however slow.
ITERATIVE_MIN_SHARE = 0.1
# The same trap as the global walk: at 3 M the large set (750 events) had a query at recall 0 with
# ef 200; ef 1000 gave worst 0.80, mean 0.9926 -> 0.9969, p50 8.1 -> 11.4 ms (BENCHMARKS.md, issue 25).
ITERATIVE_EF_SEARCH = 1000


def exact_event_search(rows: int, total: int) -> bool:
    """Whether a lookup within events holding `rows` of the model's `total` rows is read exactly."""
    return rows <= EXACT_MAX_ROWS or rows < ITERATIVE_MIN_SHARE * total


def resolve_dsn(settings: Settings) -> str:
    """The application DSN: FACE_PIPELINE_DSN if set, else the embedded server (started on demand)."""
    if settings.dsn:
        return settings.dsn
    return embedded_postgres.app_dsn(embedded_postgres.start(settings.embedded_pg_dir))


class VectorStore:
    """Migrations, event writes and nearest-face search on one PostgreSQL database."""

    def __init__(self, dsn: str, *, connect_timeout: int = 10):
        self.dsn = dsn
        self.connect_timeout = connect_timeout
        self._kept = KeptConnections(dsn, connect_timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> VectorStore:
        return cls(resolve_dsn(settings))

    @property
    def redacted_dsn(self) -> str:
        return redact_dsn(self.dsn)

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        """A new connection of its own (closed afterwards), for work that is not a lookup."""
        conn = open_connection(self.dsn, timeout=self.connect_timeout)
        try:
            yield conn
        finally:
            conn.close()

    def open_connection(self, **conninfo) -> psycopg.Connection:
        """A new connection that the caller keeps and closes, for work spread over threads (each
        keeps its own); `conninfo` adds libpq or psycopg parameters (prepare_threshold ...)."""
        return open_connection(self.dsn, timeout=self.connect_timeout, **conninfo)

    def rows(self, query, args: dict | None = None) -> list[dict]:
        """The rows of one read on a connection of its own, by column name (for the library's other
        tables: people, share links)."""
        with self.connect() as conn:
            return named_rows(conn, query, args)

    def row(self, query, args: dict | None = None) -> dict | None:
        """The first row of one read by column name, or None."""
        with self.connect() as conn:
            return named_row(conn, query, args)

    def migrate(self) -> list[str]:
        """Apply the numbered files in sql/ that this database has not seen; returns their names."""
        return migrations.migrate(self.dsn, self.connect_timeout)

    def ensure_migrated(self) -> list[str]:
        """`migrate`, once per process and database: the Dagster resource calls it on every use."""
        return migrations.ensure_migrated(self.dsn, self.connect_timeout)

    def applied_migrations(self) -> list[tuple[int, str, object]]:
        return migrations.applied_migrations(self.dsn, self.connect_timeout)

    # ---- writes -----------------------------------------------------------------------------
    def replace_event(self, write: EventWrite) -> WriteSummary:
        """Replace an event's rows for one model in a single transaction.

        Photos no longer in the folder disappear from every table (all models). This model's vectors
        are replaced; other models' vectors (and the faces they point at) stay until pruned, so an
        event keeps answering lookups during a model switch. The new model becomes the serving one.
        """
        if len(write.faces) != len(write.vectors):
            raise ValueError(f"{len(write.faces)} faces but {len(write.vectors)} vectors")
        try:
            return self._replace_event(write)
        except psycopg.OperationalError as exc:  # the server went away in the middle of the write
            self._kept.drop()
            lost = is_connection_loss(exc)  # else a statement timeout, a deadlock: the connection is still there
            raise (ConnectionLost if lost else SystemFault)(
                f"{'lost the connection to PostgreSQL' if lost else 'PostgreSQL failed'} at {self.redacted_dsn} "
                f"while writing event {write.event!r} "
                f"({first_line(exc)}). Nothing half-written is kept: the event still holds its previous rows (or "
                "the new ones, if the commit itself had reached the server). Running it again is safe."
            ) from exc

    def _replace_event(self, write: EventWrite) -> WriteSummary:
        conn = self._kept.fresh()
        if write.metric and len(write.vectors):
            with conn.transaction():  # its own transaction: the index stays even if the write fails
                ensure_vector_index(conn, write.model_id, write.vectors.shape[1], write.metric)
        event = {"event": write.event}
        with conn.transaction():
            conn.execute(statement("take_event_lock"), {"key": event_lock_key(write.event)})
            if named_row(conn, statement("event_is_new"), event)["is_new"]:
                # First write of this event (every event of a backfill): nothing to replace or keep,
                # so COPY straight into the tables, without the staging table and upserts of
                # _upsert_event_rows: about twice the rows per second (BENCHMARKS.md, load).
                self._copy_new_event_rows(conn, write)
                removed, new = 0, len(write.photos)
            else:
                known = named_row(
                    conn, statement("count_stored_photos"), {**event, "photo_ids": [p.photo_id for p in write.photos]}
                )["photos"]
                removed, new = self._upsert_event_rows(conn, write), len(write.photos) - known
            conn.execute(statement("delete_skipped_files_of_event"), event)
            with conn.cursor() as cur:
                cur.executemany(
                    statement("upsert_skipped_file"),
                    [{"event": write.event, "path": p, "reason": r, "message": m} for p, r, m in write.skipped],
                )
            conn.execute(statement("stop_serving_event"), event)
            conn.execute(
                statement("serve_event_with_model"),
                {
                    **event,
                    "model_id": write.model_id,
                    "detector_model": write.detector_model,
                    "photo_count": len(write.photos),
                    "face_count": len(write.faces),
                },
            )
        return WriteSummary(
            len(write.photos), len(write.faces), len(write.vectors), removed, len(write.skipped), photos_new=new
        )

    @staticmethod
    def _copy_vectors(cur: psycopg.Cursor, write: EventWrite) -> None:
        with cur.copy(statement("copy_vectors_binary")) as copy:
            copy.write(
                binary_copy.vector_rows([f.face_id for f in write.faces], write.model_id, write.event, write.vectors)
            )

    def _copy_new_event_rows(self, conn: psycopg.Connection, write: EventWrite) -> None:
        with conn.cursor() as cur:
            with cur.copy(statement("copy_photos_text")) as copy:
                for p in write.photos:
                    copy.write_row(
                        (
                            write.event,
                            p.photo_id,
                            p.path,
                            p.size_bytes,
                            p.width,
                            p.height,
                            p.captured_at,
                            write.detector_model,
                            p.face_count,
                        )
                    )
            with cur.copy(statement("copy_faces_binary")) as copy:
                copy.write(binary_copy.face_rows(write.event, write.detector_model, write.faces))
            self._copy_vectors(cur, write)

    def _upsert_event_rows(self, conn: psycopg.Connection, write: EventWrite) -> int:
        """Replace the rows of an event already stored; returns how many of its photos left."""
        event = {"event": write.event}
        removed = conn.execute(
            statement("delete_removed_photos"), {**event, "photo_ids": [p.photo_id for p in write.photos]}
        ).rowcount
        with conn.cursor() as cur:
            cur.executemany(
                statement("upsert_photo"),
                [
                    {
                        **event,
                        "photo_id": p.photo_id,
                        "path": p.path,
                        "size_bytes": p.size_bytes,
                        "width": p.width,
                        "height": p.height,
                        "captured_at": p.captured_at,
                        "detector_model": write.detector_model,
                        "face_count": p.face_count,
                    }
                    for p in write.photos
                ],
            )
        conn.execute(statement("delete_model_vectors_of_event"), {**event, "model_id": write.model_id})
        conn.execute(statement("delete_faces_gone"), {**event, "face_ids": [f.face_id for f in write.faces]})
        with conn.cursor() as cur:
            # Binary COPY into a staging table, then one upsert: about half the time of one INSERT
            # per face (BENCHMARKS.md).
            cur.execute(statement("create_face_staging"))
            with cur.copy(statement("copy_face_staging_binary")) as copy:
                copy.write(binary_copy.face_rows(write.event, write.detector_model, write.faces))
            cur.execute(statement("upsert_faces_from_staging"))
            self._copy_vectors(cur, write)
        return removed

    def delete_event(self, event: str) -> dict[str, int]:
        """Forget an event: photos, faces, vectors, skipped files and model records, in one transaction."""
        args = {"event": event}
        with self.connect() as conn, conn.transaction():
            conn.execute(statement("take_event_lock"), {"key": event_lock_key(event)})
            counts = {
                "vectors": conn.execute(statement("delete_event_vectors"), args).rowcount,
                "faces": conn.execute(statement("delete_event_faces"), args).rowcount,
                "photos": conn.execute(statement("delete_event_photos"), args).rowcount,
                "skipped": conn.execute(statement("delete_skipped_files_of_event"), args).rowcount,
            }
            conn.execute(statement("delete_event_models"), args)
        return counts

    def delete_faces(self, face_ids: Sequence[str], events: Sequence[str]) -> tuple[int, list[tuple[str, str, str]]]:
        """Delete faces (their vectors go with them) and recount what counted them, in one transaction
        holding the events' locks; returns (vectors deleted, [(event, photo_id, crop_path)] deleted, as
        named tuples)."""
        with self.connect() as conn, conn.transaction():
            for event in sorted(events):  # a fixed order: two deletions never deadlock
                conn.execute(statement("take_event_lock"), {"key": event_lock_key(event)})
            ids = {"face_ids": list(face_ids)}
            vectors = named_row(conn, statement("count_vectors_of_faces"), ids)["vectors"]
            deleted = named_rows(conn, statement("delete_faces_returning"), ids, row_factory=namedtuple_row)
            photos = sorted({(d.event, d.photo_id) for d in deleted})
            conn.execute(
                statement("recount_photo_faces"),
                {"events": [event for event, _photo in photos], "photo_ids": [photo for _event, photo in photos]},
            )
            conn.execute(statement("recount_event_model_faces"), {"events": sorted(events)})
        return vectors, deleted

    def prune_model(self, model_id: str, events: Sequence[str] | None = None) -> int:
        """Delete one model's vectors (never those that an event still serves from)."""
        args = {"model_id": model_id, "events": list(events) if events else None}
        with self.connect() as conn, conn.transaction():
            n = conn.execute(statement("prune_model_vectors"), args).rowcount
            conn.execute(statement("prune_model_records"), args)
            conn.execute(statement("prune_orphan_faces"))
        return n

    # ---- reads ------------------------------------------------------------------------------
    def serving_models(self, events: Sequence[str] | None = None) -> dict[str, str]:
        """event -> model_id whose vectors answer its lookups."""
        args = {"events": list(events) if events else None}
        rows = self._kept.read(lambda conn: named_rows(conn, statement("serving_models"), args))
        return {r["event"]: r["model_id"] for r in rows}

    def vectors_of(self, face_ids: Sequence[str], model_id: str, dim: int) -> dict[str, np.ndarray]:
        """face_id -> stored vector of one model, for the faces that have one (query expansion reads
        its confident hits back)."""
        if not face_ids:
            return {}
        query = vector_statement("face_vectors_by_id", dim=dim)
        rows = self._kept.read(lambda conn: named_rows(conn, query, {"model_id": model_id, "face_ids": list(face_ids)}))
        return {r["face_id"]: _as_float32(r["embedding"]) for r in rows}

    def stale_events(self, model_id: str, detector_model: str) -> list[str]:
        """Events whose lookups are served by another embedder or whose faces come from another detector."""
        rows = self.rows(statement("stale_events"), {"model_id": model_id, "detector_model": detector_model})
        return [r["event"] for r in rows]

    def event_summaries(self) -> list[dict]:
        return self.rows(statement("event_summary"))

    def skipped_files(self, event: str) -> list[tuple[str, str, str]]:
        """(path, reason, message) of each file of the event that was skipped, as named tuples."""
        with self.connect() as conn:
            return named_rows(conn, statement("skipped_files_of_event"), {"event": event}, row_factory=namedtuple_row)

    def counts(self) -> dict[str, int]:
        return dict(self.row(statement("table_counts")))

    def event_row_counts(self, event: str) -> dict[str, int]:
        return dict(self.row(statement("count_event_rows"), {"event": event}))

    def old_vector_counts(self, active_model_id: str) -> dict[str, int]:
        return {
            r["model_id"]: r["vectors"] for r in self.rows(statement("old_vector_counts"), {"active": active_model_id})
        }

    def other_models(self, active_model_id: str) -> list[str]:
        return [r["model_id"] for r in self.rows(statement("other_models"), {"active": active_model_id})]

    def check_serving_vectors(self) -> list[tuple]:
        """Per event: (event, model_id, faces, vectors, missing) of its serving model, as named tuples."""
        with self.connect() as conn:
            return named_rows(conn, statement("check_serving_vectors"), row_factory=namedtuple_row)

    def search_faces(
        self,
        query: np.ndarray,
        *,
        model_id: str,
        dim: int,
        metric: str,
        events: Sequence[str] | None = None,
        limit: int = 50,
    ) -> list[FaceMatch]:
        """The `limit` nearest faces of one model: HNSW across all events; within given events exact
        (a statement the HNSW index cannot serve), or HNSW with an iterative scan when they hold many
        rows (see EXACT_MAX_ROWS)."""
        params = _search_params(query, model_id, events, limit)

        def run(conn: psycopg.Connection) -> list:
            query_sql = self._prepare_search(conn, params, dim=dim, metric=metric)
            with conn.cursor(row_factory=dict_row) as cur:
                return cur.execute(query_sql, params).fetchall()

        return [FaceMatch.from_row(r, model_id=model_id) for r in self._kept.read(run)]

    def explain_search_faces(
        self,
        query: np.ndarray,
        *,
        model_id: str,
        dim: int,
        metric: str,
        events: Sequence[str] | None = None,
        limit: int = 50,
    ) -> str:
        """PostgreSQL's plan (EXPLAIN, text) of the statement `search_faces` sends for the same
        arguments, under the same settings of its transaction: which index a lookup reads."""
        params = _search_params(query, model_id, events, limit)

        def run(conn: psycopg.Connection) -> str:
            query_sql = self._prepare_search(conn, params, dim=dim, metric=metric)
            rows = conn.execute(sql.SQL("EXPLAIN ") + query_sql, params).fetchall()
            return "\n".join(r[0] for r in rows)

        return self._kept.read(run)

    @staticmethod
    def _prepare_search(conn: psycopg.Connection, params: dict, *, dim: int, metric: str) -> sql.Composed:
        """Choose how a lookup reads (exact over the events' rows, or the HNSW graph), set its
        transaction up for that, and return the statement to run with `params`."""
        events = params["events"]
        if events:
            size = (
                conn.cursor(row_factory=dict_row)
                .execute(statement("event_set_size"), {"events": events, "model_id": params["model_id"]})
                .fetchone()
            )
        if events and exact_event_search(size["in_events"], size["in_all"]):
            return vector_statement("search_faces_exactly", dim=dim, metric=metric)
        # HNSW returns at most ef_search rows; ask for enough candidates for `limit`.
        ef = ITERATIVE_EF_SEARCH if events else HNSW_EF_SEARCH
        conn.execute(vector_statement("set_hnsw_ef_search", ef=min(1000, max(ef, 2 * params["limit"]))))
        if events:
            conn.execute(statement("walk_hnsw_until_enough"))
        return vector_statement("search_faces", dim=dim, metric=metric)


def _search_params(query: np.ndarray, model_id: str, events: Sequence[str] | None, limit: int) -> dict:
    return {
        "query": np.asarray(query, dtype=np.float32),
        "model_id": model_id,
        "events": list(events) if events else None,
        "limit": int(limit),
    }


def _as_float32(value) -> np.ndarray:
    """A pgvector value (pgvector.Vector or a numpy array, by version) as a float32 array."""
    to_numpy = getattr(value, "to_numpy", None)
    return np.asarray(to_numpy() if to_numpy else value, dtype=np.float32)
