"""The vector store: PostgreSQL + pgvector, reached through psycopg 3.

All SQL lives in `sql/` (numbered DDL migrations, and named queries in `sql/queries/`). Writes of an
event happen in one transaction under an advisory lock, so a crash, a dropped connection or a second
run of the same event leaves either the old rows or the new rows, never a mixture.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

from face_pipeline.lib.bundled_files import sql_dir
from face_pipeline.lib.errors import SystemFault
from face_pipeline.lib.settings import Settings, redact_dsn

T = TypeVar("T")


#: hnsw.ef_search of a lookup across all events (the candidates HNSW keeps while it searches; at
#: least 2 x limit). With the index of 005, at 1 M faces, in two builds: 200 was the only value of
#: the sweep (40, 64, 100, 200) where no query lost its whole top-10 (recall@10 1.000, min 1.00) at
#: p50 ~8 ms; 100 gave a mean of 0.995-1.000 with one query of 200 at 0 (BENCHMARKS.md, sweep).
HNSW_EF_SEARCH = 200
#: A lookup within some events reads their rows exactly (bitmap scan + sort, recall 1) up to this
#: many rows: ~1.5 us a row, so ~30 ms at the limit on 2 busy cores (BENCHMARKS.md).
EXACT_MAX_ROWS = 20_000
#: Beyond it, HNSW with an iterative scan (pgvector 0.8) keeps walking the graph until `limit`
#: rows of those events have come: ~3 ms, recall@10 >= 0.99 when the events hold at least this
#: share of the model's rows. A smaller share would leave the filtered walk short of neighbours,
#: so such a set is still read exactly, however slow.
ITERATIVE_MIN_SHARE = 0.1
ITERATIVE_EF_SEARCH = 200


def exact_event_search(rows: int, total: int) -> bool:
    """Whether a lookup within events holding `rows` of the model's `total` rows is read exactly."""
    return rows <= EXACT_MAX_ROWS or rows < ITERATIVE_MIN_SHARE * total

_kept_connections = threading.local()  # see VectorStore._kept_connection


class DatabaseUnavailable(SystemFault):
    """PostgreSQL can not be reached; the message names the (password-free) DSN and what to do."""


class MigrationError(SystemFault):
    pass


def load_query(name: str) -> str:
    return (sql_dir() / "queries" / f"{name}.sql").read_text()


def resolve_dsn(settings: Settings) -> str:
    """The application DSN: FACE_PIPELINE_DSN if set, else the embedded server (started on demand)."""
    if settings.dsn:
        return settings.dsn
    from face_pipeline.lib import embedded_postgres

    return embedded_postgres.app_dsn(embedded_postgres.start(settings.embedded_pg_dir))


@dataclass
class PhotoRow:
    photo_id: str
    path: str
    size_bytes: int
    width: int
    height: int
    captured_at: object
    face_count: int


@dataclass
class FaceRow:
    face_id: str
    photo_id: str
    face_index: int
    box: tuple[int, int, int, int]
    score: float
    landmarks: list[float]
    crop_path: str


@dataclass
class EventWrite:
    """Everything one materialisation of an event writes for one (detector, embedder) pair."""

    event: str
    detector_model: str
    model_id: str
    photos: list[PhotoRow]
    faces: list[FaceRow]
    vectors: np.ndarray  # (len(faces), dim), row i belongs to faces[i]
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (path, reason, message)


@dataclass
class WriteSummary:
    photos: int
    faces: int
    vectors: int
    photos_removed: int
    skipped: int


@dataclass
class FaceMatch:
    face_id: str
    event: str
    photo_id: str
    path: str
    face_index: int
    box: tuple[int, int, int, int]
    crop_path: str
    width: int
    height: int
    distance: float
    model_id: str = ""


def _as_float32(value) -> np.ndarray:
    """A pgvector value (pgvector.Vector or a numpy array, by version) as a float32 array."""
    to_numpy = getattr(value, "to_numpy", None)
    return np.asarray(to_numpy() if to_numpy else value, dtype=np.float32)


def face_id_for(event: str, photo_id: str, detector_model: str, face_index: int) -> str:
    """Content-derived face id: the same photo, detector and face always get the same id."""
    key = f"{event}\x1f{photo_id}\x1f{detector_model}\x1f{face_index}".encode()
    return hashlib.sha256(key).hexdigest()[:32]


# ---- binary COPY streams ----------------------------------------------------------------------
# psycopg's write_row adapts every value through its generic dumpers (~20 us a row with a real[]
# column); these build the same PGCOPY stream directly in ~4 us a row.

_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
_COPY_TRAILER = b"\xff\xff"
_FLOAT4_OID = 700
_int4_field = struct.Struct(">ii").pack  # length 4, value
_float4_field = struct.Struct(">if").pack


def _text_field(value: str) -> bytes:
    data = value.encode()
    return struct.pack(">i", len(data)) + data


def _float4_array_field(values: Sequence[float]) -> bytes:
    if not values:
        body = struct.pack(">iii", 0, 0, _FLOAT4_OID)
    else:
        n = len(values)
        body = struct.pack(f">iiiii{'if' * n}", 1, 0, _FLOAT4_OID, n, 1,
                           *(v for x in values for v in (4, float(x))))
    return struct.pack(">i", len(body)) + body


def _face_rows_binary(write: EventWrite) -> bytes:
    """COPY ... (FORMAT BINARY) data for faces / face_rows_in, columns as in _FACE_COLUMNS."""
    event, detector = _text_field(write.event), _text_field(write.detector_model)
    parts = [_COPY_HEADER]
    for f in write.faces:
        left, top, right, bottom = f.box
        parts.append(
            b"\x00\x0c" + _text_field(f.face_id) + event + _text_field(f.photo_id) + _int4_field(4, f.face_index)
            + detector + _int4_field(4, left) + _int4_field(4, top) + _int4_field(4, right)
            + _int4_field(4, bottom) + _float4_field(4, f.score) + _float4_array_field(f.landmarks)
            + _text_field(f.crop_path)
        )
    parts.append(_COPY_TRAILER)
    return b"".join(parts)


def _vector_rows_binary(face_ids: Sequence[str], model_id: str, event: str, vectors: np.ndarray) -> bytes:
    """COPY data for face_vectors (face_id, model_id, event, embedding); pgvector's binary vector
    is int16 dim, int16 unused, then dim big-endian float4."""
    if not len(face_ids):
        return _COPY_HEADER + _COPY_TRAILER  # an event whose photos show no face
    vecs = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(len(face_ids), -1), dtype=">f4")
    dim = vecs.shape[1]
    tail = _text_field(model_id) + _text_field(event) + struct.pack(">ihh", 4 + 4 * dim, dim, 0)
    parts = [_COPY_HEADER]
    for face_id, vec in zip(face_ids, vecs, strict=True):
        parts.append(b"\x00\x04" + _text_field(face_id) + tail + vec.tobytes())
    parts.append(_COPY_TRAILER)
    return b"".join(parts)


#: faces columns in the order of _face_rows_binary's fields
_FACE_COLUMNS = ("face_id, event, photo_id, face_index, detector_model, box_left, box_top, box_right, box_bottom, "
                 "score, landmarks, crop_path")


def _copy_vectors(cur: psycopg.Cursor, write: EventWrite, face_ids: Sequence[str]) -> None:
    with cur.copy("COPY face_vectors (face_id, model_id, event, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.write(_vector_rows_binary(face_ids, write.model_id, write.event, write.vectors))


def _event_lock_key(event: str) -> int:
    return int.from_bytes(hashlib.sha256(f"face_pipeline:event:{event}".encode()).digest()[:8], "big", signed=True)


class VectorStore:
    """Connections, migrations, event writes and nearest-face search on one PostgreSQL database."""

    def __init__(self, dsn: str, *, connect_timeout: int = 10):
        self.dsn = dsn
        self.connect_timeout = connect_timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> VectorStore:
        return cls(resolve_dsn(settings))

    @property
    def redacted_dsn(self) -> str:
        return redact_dsn(self.dsn)

    def _open(self) -> psycopg.Connection:
        try:
            conn = psycopg.connect(self.dsn, connect_timeout=self.connect_timeout)
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(
                f"cannot connect to PostgreSQL at {self.redacted_dsn}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}. "
                "Is the server running? Set FACE_PIPELINE_DSN to use another one."
            ) from None
        try:
            register_vector(conn)
        except psycopg.ProgrammingError:
            conn.rollback()
            conn.close()
            raise MigrationError(
                "the pgvector extension is not installed in this database; run `face-pipeline db migrate`"
            ) from None
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        conn = self._open()
        try:
            yield conn
        finally:
            conn.close()

    def _kept_connection(self) -> psycopg.Connection:
        """A connection kept open for lookups and event writes, one per process, thread and DSN.

        A new PostgreSQL backend spends ~10 ms warming its catalog caches before the first query;
        a lookup itself takes 1-5 ms and an event of 1,000 faces is written in ~60 ms
        (BENCHMARKS.md), so a process that does many reuses its connection. Every use is one
        transaction. Never shared across a fork (the pid is checked) or between threads.
        """
        local = _kept_connections
        if getattr(local, "pid", None) != os.getpid():
            local.pid, local.by_dsn = os.getpid(), {}
        conn = local.by_dsn.get(self.dsn)
        if conn is None or conn.closed or conn.broken:
            conn = local.by_dsn[self.dsn] = self._open()
        return conn

    def _read_kept(self, work: Callable[[psycopg.Connection], T]) -> T:
        """`work(conn)` in one read transaction on the kept connection, run again once on a new
        connection when the kept one died since its last use (a server restart)."""
        for attempt in (1, 2):
            conn = self._kept_connection()
            try:
                with conn.transaction():
                    return work(conn)
            except psycopg.OperationalError:
                self._drop_kept_connection()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _drop_kept_connection(self) -> None:
        conn = getattr(_kept_connections, "by_dsn", {}).pop(self.dsn, None)
        if conn is not None:
            conn.close()

    # ---- migrations -------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply the numbered files in sql/ that this database has not seen; returns their names."""
        files = sorted(p for p in sql_dir().glob("[0-9][0-9][0-9]_*.sql"))
        applied_now: list[str] = []
        try:
            conn = psycopg.connect(self.dsn, connect_timeout=self.connect_timeout, autocommit=False)
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {self.redacted_dsn}: {exc}") from None
        with conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_event_lock_key("__migrations__"),))
            conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {row[0]: row[2] for row in conn.execute("SELECT version, name, checksum FROM schema_migrations")}
            for path in files:
                version = int(path.name[:3])
                text = path.read_text()
                checksum = hashlib.sha256(text.encode()).hexdigest()[:16]
                if version in done:
                    if done[version] != checksum:
                        raise MigrationError(
                            f"{path.name} changed after it was applied (checksum {done[version]} -> {checksum}); "
                            "add a new numbered file instead of editing an applied one"
                        )
                    continue
                conn.execute(text)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (version, path.name, checksum),
                )
                applied_now.append(path.name)
        return applied_now

    def applied_migrations(self) -> list[tuple[int, str, object]]:
        with self.connect() as conn:
            try:
                return conn.execute("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").fetchall()
            except psycopg.errors.UndefinedTable:
                return []

    # ---- writes -----------------------------------------------------------------------------
    def replace_event(self, write: EventWrite) -> WriteSummary:
        """Replace an event's rows for one model in a single transaction.

        Photos no longer in the folder disappear from every table (all models). This model's vectors
        are replaced; other models' vectors (and the faces they point at) stay until pruned, so an
        event keeps answering lookups during a model switch. The new model becomes the serving one.
        """
        try:
            return self._replace_event(write)
        except psycopg.OperationalError as exc:  # the server went away in the middle of the write
            self._drop_kept_connection()
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise DatabaseUnavailable(
                f"lost the connection to PostgreSQL at {self.redacted_dsn} while writing event {write.event!r} "
                f"({detail}). Nothing half-written is kept: the event still holds its previous rows (or the "
                "new ones, if the commit itself had reached the server). Running it again is safe."
            ) from exc

    def _replace_event(self, write: EventWrite) -> WriteSummary:
        if len(write.faces) != len(write.vectors):
            raise ValueError(f"{len(write.faces)} faces but {len(write.vectors)} vectors")
        photo_ids = [p.photo_id for p in write.photos]
        face_ids = [f.face_id for f in write.faces]
        conn = self._kept_connection()
        try:
            conn.execute("SELECT 1")
        except psycopg.OperationalError:
            # The kept connection died since its last use (server restarted): nothing of this write
            # has been sent yet, so start over on a new one.
            self._drop_kept_connection()
            conn = self._kept_connection()
        conn.rollback()  # end the transaction SELECT 1 opened
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_event_lock_key(write.event),))
            fresh = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM photos WHERE event = %s)",
                                 (write.event,)).fetchone()[0]
            if fresh:
                # First write of this event (every event of a backfill): nothing to replace or keep,
                # so COPY straight into the tables, without the staging table and upserts of
                # _upsert_event_rows: about twice the rows per second (BENCHMARKS.md, load).
                self._copy_new_event_rows(conn, write, face_ids)
                removed = 0
            else:
                removed = self._upsert_event_rows(conn, write, photo_ids, face_ids)
            conn.execute("DELETE FROM skipped_files WHERE event = %s", (write.event,))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO skipped_files (event, path, reason, message) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (event, path) DO UPDATE SET reason = EXCLUDED.reason, message = EXCLUDED.message, seen_at = now()",
                    [(write.event, path, reason, message) for path, reason, message in write.skipped],
                )
            conn.execute("UPDATE event_models SET serving = false WHERE event = %s", (write.event,))
            conn.execute(
                """INSERT INTO event_models (event, model_id, detector_model, photo_count, face_count, serving)
                   VALUES (%s, %s, %s, %s, %s, true)
                   ON CONFLICT (event, model_id) DO UPDATE SET detector_model = EXCLUDED.detector_model,
                     photo_count = EXCLUDED.photo_count, face_count = EXCLUDED.face_count,
                     completed_at = now(), serving = true""",
                (write.event, write.model_id, write.detector_model, len(write.photos), len(write.faces)),
            )
        return WriteSummary(len(write.photos), len(write.faces), len(write.vectors), removed, len(write.skipped))

    @staticmethod
    def _copy_new_event_rows(conn: psycopg.Connection, write: EventWrite, face_ids: list[str]) -> None:
        with conn.cursor() as cur:
            with cur.copy(
                "COPY photos (event, photo_id, path, size_bytes, width, height, captured_at, detector_model, "
                "face_count) FROM STDIN"
            ) as copy:
                for p in write.photos:
                    copy.write_row((write.event, p.photo_id, p.path, p.size_bytes, p.width, p.height,
                                    p.captured_at, write.detector_model, p.face_count))
            with cur.copy(f"COPY faces ({_FACE_COLUMNS}) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.write(_face_rows_binary(write))
            _copy_vectors(cur, write, face_ids)

    @staticmethod
    def _upsert_event_rows(conn: psycopg.Connection, write: EventWrite, photo_ids: list[str],
                           face_ids: list[str]) -> int:
        """Replace the rows of an event already stored; returns how many of its photos left."""
        removed = conn.execute(
            "DELETE FROM photos WHERE event = %s AND NOT (photo_id = ANY(%s))", (write.event, photo_ids)
        ).rowcount
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO photos (event, photo_id, path, size_bytes, width, height, captured_at,
                                       detector_model, face_count)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (event, photo_id) DO UPDATE SET
                     path = EXCLUDED.path, size_bytes = EXCLUDED.size_bytes, width = EXCLUDED.width,
                     height = EXCLUDED.height, captured_at = EXCLUDED.captured_at,
                     detector_model = EXCLUDED.detector_model, face_count = EXCLUDED.face_count,
                     ingested_at = now()""",
                [
                    (write.event, p.photo_id, p.path, p.size_bytes, p.width, p.height, p.captured_at,
                     write.detector_model, p.face_count)
                    for p in write.photos
                ],
            )
        conn.execute("DELETE FROM face_vectors WHERE event = %s AND model_id = %s", (write.event, write.model_id))
        conn.execute(
            """DELETE FROM faces f WHERE f.event = %s AND NOT (f.face_id = ANY(%s))
               AND NOT EXISTS (SELECT 1 FROM face_vectors v WHERE v.face_id = f.face_id)""",
            (write.event, face_ids),
        )
        with conn.cursor() as cur:
            # Binary COPY into a staging table, then one upsert: about half the time of one
            # INSERT per face (BENCHMARKS.md). A face that another model's vectors still point at is
            # updated in place, never deleted (that would cascade to those vectors).
            cur.execute("CREATE TEMP TABLE face_rows_in (LIKE faces) ON COMMIT DROP")
            with cur.copy(f"COPY face_rows_in ({_FACE_COLUMNS}) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.write(_face_rows_binary(write))
            cur.execute(
                f"""INSERT INTO faces ({_FACE_COLUMNS}) SELECT {_FACE_COLUMNS} FROM face_rows_in
                   ON CONFLICT (face_id) DO UPDATE SET
                     box_left = EXCLUDED.box_left, box_top = EXCLUDED.box_top,
                     box_right = EXCLUDED.box_right, box_bottom = EXCLUDED.box_bottom,
                     score = EXCLUDED.score, landmarks = EXCLUDED.landmarks, crop_path = EXCLUDED.crop_path"""
            )
            _copy_vectors(cur, write, face_ids)
        return removed

    def delete_event(self, event: str) -> dict[str, int]:
        """Forget an event: photos, faces, vectors, skipped files and model records, in one transaction."""
        with self.connect() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_event_lock_key(event),))
            counts = {
                "vectors": conn.execute("DELETE FROM face_vectors WHERE event = %s", (event,)).rowcount,
                "faces": conn.execute("DELETE FROM faces WHERE event = %s", (event,)).rowcount,
                "photos": conn.execute("DELETE FROM photos WHERE event = %s", (event,)).rowcount,
                "skipped": conn.execute("DELETE FROM skipped_files WHERE event = %s", (event,)).rowcount,
            }
            conn.execute("DELETE FROM event_models WHERE event = %s", (event,))
        return counts

    def prune_model(self, model_id: str, events: Sequence[str] | None = None) -> int:
        """Delete one model's vectors (never those that an event still serves from)."""
        with self.connect() as conn, conn.transaction():
            n = conn.execute(
                """DELETE FROM face_vectors v WHERE v.model_id = %(m)s
                     AND (%(ev)s::text[] IS NULL OR v.event = ANY(%(ev)s::text[]))
                     AND NOT EXISTS (SELECT 1 FROM event_models e
                                     WHERE e.event = v.event AND e.model_id = v.model_id AND e.serving)""",
                {"m": model_id, "ev": list(events) if events else None},
            ).rowcount
            conn.execute(
                """DELETE FROM event_models e WHERE e.model_id = %(m)s AND NOT e.serving
                     AND (%(ev)s::text[] IS NULL OR e.event = ANY(%(ev)s::text[]))""",
                {"m": model_id, "ev": list(events) if events else None},
            )
            conn.execute(
                """DELETE FROM faces f WHERE NOT EXISTS (SELECT 1 FROM face_vectors v WHERE v.face_id = f.face_id)
                     AND f.detector_model <> (SELECT p.detector_model FROM photos p
                                              WHERE p.event = f.event AND p.photo_id = f.photo_id)"""
            )
        return n

    # ---- reads ------------------------------------------------------------------------------
    def serving_models(self, events: Sequence[str] | None = None) -> dict[str, str]:
        """event -> model_id whose vectors answer its lookups."""
        return dict(self._read_kept(lambda conn: conn.execute(
            "SELECT event, model_id FROM event_models WHERE serving "
            "AND (%(ev)s::text[] IS NULL OR event = ANY(%(ev)s::text[]))",
            {"ev": list(events) if events else None},
        ).fetchall()))

    def vectors_of(self, face_ids: Sequence[str], model_id: str, dim: int) -> dict[str, np.ndarray]:
        """face_id -> stored vector of one model, for the faces that have one (query expansion
        reads its confident hits back)."""
        if not face_ids:
            return {}
        query = sql.SQL(load_query("face_vectors_by_id")).format(dim=sql.Literal(int(dim)))
        rows = self._read_kept(lambda conn: conn.execute(
            query, {"model_id": model_id, "face_ids": list(face_ids)}).fetchall())
        return {face_id: _as_float32(value) for face_id, value in rows}

    def stale_events(self, model_id: str, detector_model: str) -> list[str]:
        """Events whose lookups are served by another embedder or whose faces come from another detector."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT event FROM event_models WHERE serving AND (model_id <> %s OR detector_model <> %s) "
                "ORDER BY event",
                (model_id, detector_model),
            ).fetchall()
        return [r[0] for r in rows]

    def event_summaries(self) -> list[dict]:
        with self.connect() as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            return cur.execute(load_query("event_summary")).fetchall()

    def skipped_files(self, event: str) -> list[tuple[str, str, str]]:
        with self.connect() as conn:
            return conn.execute(
                "SELECT path, reason, message FROM skipped_files WHERE event = %s ORDER BY path", (event,)
            ).fetchall()

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
        """The `limit` nearest faces of one model: HNSW across all events; within given events exact,
        or HNSW with an iterative scan when they hold many rows (see EXACT_MAX_ROWS)."""
        op = {"l2": "<->", "cosine": "<=>"}[metric]
        query_sql = sql.SQL(load_query("search_faces")).format(dim=sql.Literal(int(dim)), op=sql.SQL(op))
        params = {
            "query": np.asarray(query, dtype=np.float32),
            "model_id": model_id,
            "events": list(events) if events else None,
            "limit": int(limit),
        }
        def run(conn: psycopg.Connection) -> list:
            exact = bool(events) and exact_event_search(*conn.execute(
                "SELECT coalesce(sum(face_count) FILTER (WHERE event = ANY(%s)), 0), "
                "coalesce(sum(face_count), 0) FROM event_models WHERE model_id = %s",
                (params["events"], model_id),
            ).fetchone())
            if exact:
                # Few rows: read the chosen events' rows (bitmap scan) and sort them.
                conn.execute("SET LOCAL enable_indexscan = off")
            else:
                # HNSW returns at most ef_search rows; ask for enough candidates for `limit`.
                ef = ITERATIVE_EF_SEARCH if events else HNSW_EF_SEARCH
                conn.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(
                    sql.Literal(min(1000, max(ef, 2 * limit)))))
                if events:
                    # Many rows in many events: walk HNSW, filtering, until `limit` have come.
                    conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            return conn.execute(query_sql, params).fetchall()

        rows = self._read_kept(run)
        return [
            FaceMatch(
                face_id=r[0], event=r[1], photo_id=r[2], path=r[3], face_index=r[4],
                box=(r[5], r[6], r[7], r[8]), crop_path=r[9], width=r[10], height=r[11],
                distance=float(r[12]), model_id=model_id,
            )
            for r in rows
        ]

    def counts(self) -> dict[str, int]:
        with self.connect() as conn:
            return {
                t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0]
                for t in ("photos", "faces", "face_vectors", "skipped_files")
            }
