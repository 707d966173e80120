"""Connections to PostgreSQL: one place that opens them (and says clearly when it cannot), the
connection a process keeps for its lookups and event writes, and how a connection lost during a
command's run is told apart from a server that could not be reached at all."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg
from pgvector.psycopg import register_vector
from psycopg.rows import RowFactory, dict_row

from face_pipeline.lib.errors import EXIT_CONNECTION_LOST, SystemFault
from face_pipeline.lib.settings import redact_dsn
from face_pipeline.lib.store.statements import statement

T = TypeVar("T")


class ConnectionLost(SystemFault):
    """PostgreSQL went away while a run was using it, not "cannot connect" at the start: a command
    line batch stops at it (every further event would fail the same way) and exits with 4. What is
    stored is what the last commit left (each write is one transaction), so running again is safe."""

    exit_code = EXIT_CONNECTION_LOST


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def is_connection_loss(exc: BaseException) -> bool:
    """Whether a psycopg error means the connection is gone: a client-side failure (no SQLSTATE:
    "server closed the connection unexpectedly", "consuming input failed"), a connection exception
    (08xxx) or the server shutting down or crashing (57P01-57P05). A statement timeout (57014), a
    deadlock or a lock timeout is an OperationalError too, but the connection is still there."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith(("08", "57P"))


def connection_lost(exc: BaseException, during: str = "the run") -> ConnectionLost:
    """The ConnectionLost for a psycopg error that `is_connection_loss`, saying what was going on."""
    return ConnectionLost(
        f"lost the connection to PostgreSQL during {during} ({first_line(exc)}). Nothing "
        "half-written is kept; run the command again when the server is back."
    )


#: The DSNs that the command running in this process has connected to (None outside a command,
#: see `command_run`): a later "cannot connect" to one of them means the server went away during
#: the run (ConnectionLost), not that it was never there. A set shared by the run's threads.
_reached_in_run: set[str] | None = None


@contextmanager
def command_run() -> Iterator[None]:
    """The span of one command (cli.main): a DSN it has connected to once and then can not connect to
    again raises ConnectionLost instead of SystemFault, also in the Dagster runs that `backfill` and
    `demo` execute in their own process. Elsewhere (Dagster's webserver, daemon and run workers,
    library callers) every failure to connect stays the plain "cannot connect"."""
    global _reached_in_run
    outer, _reached_in_run = _reached_in_run, set()
    try:
        yield
    finally:
        _reached_in_run = outer


def command_has_connected() -> bool:
    """Whether the running command (`command_run`) has connected to a database yet."""
    return bool(_reached_in_run)


def open_connection(
    dsn: str, *, timeout: int = 10, with_vectors: bool = True, autocommit: bool = False, **conninfo
) -> psycopg.Connection:
    """A new connection (pgvector's types registered unless `with_vectors` is False); `conninfo`
    adds libpq parameters (application_name, keepalives...)."""
    reached = _reached_in_run
    try:
        conn = psycopg.connect(dsn, connect_timeout=timeout, autocommit=autocommit, **conninfo)
    except psycopg.OperationalError as exc:
        if reached is not None and dsn in reached and is_connection_loss(exc):
            raise ConnectionLost(
                f"lost the connection to PostgreSQL at {redact_dsn(dsn)} during the run: it accepted this "
                f"command's connections, now it refuses them ({first_line(exc)}). Nothing half-written is kept; "
                "run the command again when the server is back."
            ) from None
        raise SystemFault(
            f"cannot connect to PostgreSQL at {redact_dsn(dsn)}: {first_line(exc)}. "
            "Is the server running? Set FACE_PIPELINE_DSN to use another one."
        ) from None
    if reached is not None:
        reached.add(dsn)
    if not with_vectors:
        return conn
    try:
        register_vector(conn)
    except psycopg.ProgrammingError:
        conn.rollback()
        conn.close()
        raise SystemFault(
            "the pgvector extension is not installed in this database; run `face-pipeline db migrate`"
        ) from None
    except BaseException:
        conn.close()
        raise
    return conn


def named_rows(
    conn: psycopg.Connection, query, args: dict | None = None, *, row_factory: RowFactory = dict_row
) -> list:
    """The rows of one statement on a connection the caller holds, read by column name: dicts, or
    psycopg's `namedtuple_row` where a caller is handed tuples (they still compare and unpack as such)."""
    with conn.cursor(row_factory=row_factory) as cur:
        return cur.execute(query, args).fetchall()


def named_row(conn: psycopg.Connection, query, args: dict | None = None) -> dict | None:
    """The first row of one statement by column name, or None when it returns none."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, args).fetchone()


class KeptConnections:
    """A connection kept open for lookups and event writes, one per process, thread and DSN.

    A new PostgreSQL backend spends ~10 ms warming its catalog caches before the first query; a lookup
    itself takes 1-5 ms and an event of 1,000 faces is written in ~60 ms (BENCHMARKS.md), so a
    process that does many reuses its connection. Every use is one transaction. Never shared across a
    fork (the pid is checked) or between threads.
    """

    _local = threading.local()

    def __init__(self, dsn: str, timeout: int):
        self.dsn, self.timeout = dsn, timeout

    def get(self) -> psycopg.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.pid, local.by_dsn = os.getpid(), {}
        conn = local.by_dsn.get(self.dsn)
        if conn is None or conn.closed or conn.broken:
            conn = local.by_dsn[self.dsn] = open_connection(self.dsn, timeout=self.timeout)
        return conn

    def fresh(self) -> psycopg.Connection:
        """The kept connection, checked with a round trip: one that died since its last use (a server
        restart) is replaced before anything of the caller's work is sent."""
        conn = self.get()
        try:
            conn.execute(statement("liveness_probe"))
        except psycopg.OperationalError:
            self.drop()
            conn = self.get()
        conn.rollback()  # end the transaction the probe opened
        return conn

    def drop(self) -> None:
        conn = getattr(self._local, "by_dsn", {}).pop(self.dsn, None)
        if conn is not None:
            conn.close()

    def read(self, work: Callable[[psycopg.Connection], T]) -> T:
        """`work(conn)` in one read transaction, run again once on a new connection when the kept
        one died since its last use."""
        for attempt in (1, 2):
            conn = self.get()
            try:
                with conn.transaction():
                    return work(conn)
            except psycopg.OperationalError:
                self.drop()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")
