"""The vector store: PostgreSQL + pgvector, reached through psycopg 3.

All SQL lives in `sql/` (numbered DDL migrations, and named queries in `sql/queries/`). Writes of an
event happen in one transaction under an advisory lock, so a crash, a dropped connection or a second
run of the same event leaves either the old rows or the new rows, never a mixture.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

from face_pipeline.lib.settings import Settings, redact_dsn

SQL_DIR = Path(os.environ.get("FACE_PIPELINE_SQL_DIR", Path(__file__).resolve().parents[2] / "sql"))


class DatabaseUnavailable(RuntimeError):
    """PostgreSQL can not be reached; the message names the (password-free) DSN and what to do."""


class MigrationError(RuntimeError):
    pass


def load_query(name: str) -> str:
    return (SQL_DIR / "queries" / f"{name}.sql").read_text()


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


def face_id_for(event: str, photo_id: str, detector_model: str, face_index: int) -> str:
    """Content-derived face id: the same photo, detector and face always get the same id."""
    key = f"{event}\x1f{photo_id}\x1f{detector_model}\x1f{face_index}".encode()
    return hashlib.sha256(key).hexdigest()[:32]


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

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        try:
            conn = psycopg.connect(self.dsn, connect_timeout=self.connect_timeout)
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(
                f"cannot connect to PostgreSQL at {self.redacted_dsn}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}. "
                "Is the server running? Set FACE_PIPELINE_DSN to use another one."
            ) from None
        try:
            try:
                register_vector(conn)
            except psycopg.ProgrammingError:
                conn.rollback()
                raise MigrationError(
                    "the pgvector extension is not installed in this database; run `face-pipeline db migrate`"
                ) from None
            yield conn
        finally:
            conn.close()

    # ---- migrations -------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply the numbered files in sql/ that this database has not seen; returns their names."""
        files = sorted(p for p in SQL_DIR.glob("[0-9][0-9][0-9]_*.sql"))
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
        with self.connect() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_event_lock_key(write.event),))
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
                cur.executemany(
                    """INSERT INTO faces (face_id, event, photo_id, face_index, detector_model,
                                          box_left, box_top, box_right, box_bottom, score, landmarks, crop_path)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                       ON CONFLICT (face_id) DO UPDATE SET
                         box_left = EXCLUDED.box_left, box_top = EXCLUDED.box_top,
                         box_right = EXCLUDED.box_right, box_bottom = EXCLUDED.box_bottom,
                         score = EXCLUDED.score, landmarks = EXCLUDED.landmarks, crop_path = EXCLUDED.crop_path""",
                    [
                        (f.face_id, write.event, f.photo_id, f.face_index, write.detector_model, *f.box,
                         f.score, list(map(float, f.landmarks)), f.crop_path)
                        for f in write.faces
                    ],
                )
                with cur.copy(
                    "COPY face_vectors (face_id, model_id, event, embedding) FROM STDIN WITH (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(["text", "text", "text", "vector"])
                    for face_id, vec in zip(face_ids, write.vectors, strict=True):
                        copy.write_row((face_id, write.model_id, write.event, np.asarray(vec, dtype=np.float32)))
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
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT event, model_id FROM event_models WHERE serving "
                "AND (%(ev)s::text[] IS NULL OR event = ANY(%(ev)s::text[]))",
                {"ev": list(events) if events else None},
            ).fetchall()
        return dict(rows)

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
        """The `limit` nearest faces of one model; exact within given events, HNSW across all."""
        op = {"l2": "<->", "cosine": "<=>"}[metric]
        query_sql = sql.SQL(load_query("search_faces")).format(dim=sql.Literal(int(dim)), op=sql.SQL(op))
        params = {
            "query": np.asarray(query, dtype=np.float32),
            "model_id": model_id,
            "events": list(events) if events else None,
            "limit": int(limit),
        }
        with self.connect() as conn, conn.transaction():
            if events:
                # Exact search inside the chosen events: read their rows (bitmap scan) and sort.
                conn.execute("SET LOCAL enable_indexscan = off")
            else:
                # HNSW returns at most ef_search rows; ask for enough candidates for `limit`.
                conn.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(min(1000, max(40, 2 * limit)))))
            rows = conn.execute(query_sql, params).fetchall()
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
