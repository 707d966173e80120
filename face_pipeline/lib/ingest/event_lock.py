"""One run at a time per event, on every machine: a PostgreSQL advisory lock per event.

The database write of an event is already serialised (a transaction-level advisory lock, store/),
but the stage files and crops are not: two runs of one event would overwrite each other's
`faces.json` and delete each other's crops, whether those live on one disk or in one bucket that
several machines share. Each ingest step and each `forget` therefore holds the event's run lock
while it touches the event's files.

The lock lives in the PostgreSQL every worker already uses (a file lock would only hold on one
machine): session-level, on a connection of its own that names its holder (application_name), and
released by PostgreSQL when that connection ends, so a killed process never leaves the event
locked (TCP keepalives end the session of a machine that vanished within about a minute).
"""

from __future__ import annotations

import functools
import inspect
import os
import socket
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from face_pipeline.lib.errors import ConfigError, SystemFault
from face_pipeline.lib.photos.events import validate_event_name
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.store.connection import (
    ConnectionLost,
    first_line,
    is_connection_loss,
    named_row,
    open_connection,
)
from face_pipeline.lib.store.statements import statement

#: The first of the lock's two int4 keys: "face_pipeline event run" (no other lock uses it).
EVENT_RUN_LOCK_CLASS = 0x46505231
HOLDER_PREFIX = "face_pipeline run lock"


def run_lock_key(event: str) -> dict[str, int]:
    validate_event_name(event)
    return {"class": EVENT_RUN_LOCK_CLASS, "key": zlib.crc32(event.encode()) & 0x7FFFFFFF}


def _holder(conn: psycopg.Connection, key: dict[str, int]) -> str:
    try:
        row = named_row(conn, statement("event_run_lock_holder"), key)
    except psycopg.Error:
        return "another run"
    if not row or not row["application_name"].startswith(HOLDER_PREFIX):
        return "another run"
    return f"{row['application_name'][len(HOLDER_PREFIX) :].strip()}, since {row['backend_start']:%Y-%m-%d %H:%M:%S}"


@contextmanager
def event_lock(settings: Settings, event: str, *, wait: float | None = None) -> Iterator[None]:
    """Hold the event's run lock; wait up to `wait` seconds (default: the event_lock_wait setting,
    FACE_PIPELINE_EVENT_LOCK_WAIT) for another run. Steps of one event are short compared with
    the default half hour: a run that waits longer is stuck."""
    wait = settings.event_lock_wait if wait is None else wait
    key = run_lock_key(event)
    if not settings.dsn:
        raise ConfigError(
            "the per-event run lock lives in PostgreSQL: no database is configured "
            "(set FACE_PIPELINE_DSN, or run through the face-pipeline command)"
        )
    me = f"{HOLDER_PREFIX} pid {os.getpid()} on {socket.gethostname()}"  # the event is in the lock's key
    conn = open_connection(
        settings.dsn,
        with_vectors=False,
        autocommit=True,
        application_name=me[:63],
        keepalives=1,
        keepalives_idle=20,
        keepalives_interval=10,
        keepalives_count=3,
    )
    try:
        _acquire(conn, key, event, wait)
    except BaseException as exc:
        conn.close()
        if is_connection_loss(exc):
            raise ConnectionLost(
                f"lost the connection to PostgreSQL while taking the run lock of {event!r}: {first_line(exc)}"
            ) from None
        raise
    try:
        yield
    finally:
        try:
            conn.execute(statement("release_event_run_lock"), key)
        except psycopg.Error:
            pass  # the connection is gone, and the lock with it
        conn.close()


def _acquire(conn: psycopg.Connection, key: dict[str, int], event: str, wait: float) -> None:
    deadline = time.monotonic() + wait
    delay = 0.05
    while not named_row(conn, statement("try_event_run_lock"), key)["locked"]:
        if time.monotonic() >= deadline:
            raise SystemFault(
                f"event {event!r} is being ingested by another run ({_holder(conn, key)}); "
                f"waited {wait:g} s. Try again when it has finished."
            )
        time.sleep(delay)
        delay = min(1.0, delay * 2)


def holds_event_lock(event_of: Callable[..., str]):
    """Decorate an ingest step `f(settings, x, ...)`: it runs holding the lock of `event_of(x)`."""

    def decorate(fn):
        first, second = list(inspect.signature(fn).parameters)[:2]

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            bound = inspect.signature(fn).bind(*args, **kwargs)
            with event_lock(bound.arguments[first], event_of(bound.arguments[second])):
                return fn(*args, **kwargs)

        return wrapper

    return decorate
