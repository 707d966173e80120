"""Connections to PostgreSQL: one place that opens them (and says clearly when it cannot), and the
connection a process keeps for its lookups and event writes."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TypeVar

import psycopg
from pgvector.psycopg import register_vector

from face_pipeline.lib.errors import SystemFault
from face_pipeline.lib.settings import redact_dsn
from face_pipeline.lib.store.statements import statement

T = TypeVar("T")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def open_connection(dsn: str, *, timeout: int = 10, with_vectors: bool = True, autocommit: bool = False,
                    **conninfo) -> psycopg.Connection:
    """A new connection (pgvector's types registered unless `with_vectors` is False); `conninfo`
    adds libpq parameters (application_name, keepalives...)."""
    try:
        conn = psycopg.connect(dsn, connect_timeout=timeout, autocommit=autocommit, **conninfo)
    except psycopg.OperationalError as exc:
        raise SystemFault(
            f"cannot connect to PostgreSQL at {redact_dsn(dsn)}: {first_line(exc)}. "
            "Is the server running? Set FACE_PIPELINE_DSN to use another one."
        ) from None
    if not with_vectors:
        return conn
    try:
        register_vector(conn)
    except psycopg.ProgrammingError:
        conn.rollback()
        conn.close()
        raise SystemFault("the pgvector extension is not installed in this database; run "
                              "`face-pipeline db migrate`") from None
    except BaseException:
        conn.close()
        raise
    return conn


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
