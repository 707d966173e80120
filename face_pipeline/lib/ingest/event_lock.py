"""One run at a time per event, on this machine: an advisory file lock per event.

The database write of an event is already serialised by a PostgreSQL advisory lock (store.py), but
the stage files and crops of DATA_DIR are not: two runs of one event would overwrite each other's
`faces.json` and delete each other's crops. Each ingest step and each `forget` therefore holds
`DATA_DIR/stage/.locks/<event>.lock` (flock) while it touches the event's files. The kernel releases
the lock when its process dies, so a killed run never leaves the event locked.
"""

from __future__ import annotations

import fcntl
import functools
import inspect
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from face_pipeline.lib.errors import SystemFault
from face_pipeline.lib.photos.events import validate_event_name
from face_pipeline.lib.settings import Settings, make_private_dir


class EventBusy(SystemFault):
    """Another run holds the event; the message names it (pid, since when)."""


def lock_path(settings: Settings, event: str) -> Path:
    validate_event_name(event)
    make_private_dir(settings.stage_dir)
    return make_private_dir(settings.stage_dir / ".locks") / f"{event}.lock"


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        return "another run"
    return text or "another run"


@contextmanager
def event_lock(settings: Settings, event: str, *, wait: float | None = None) -> Iterator[None]:
    """Hold the event's lock; wait up to `wait` seconds (default: the event_lock_wait setting,
    FACE_PIPELINE_EVENT_LOCK_WAIT) for another run. Steps of one event are short compared with
    the default half hour: a run that waits longer is stuck."""
    wait = settings.event_lock_wait if wait is None else wait
    path = lock_path(settings, event)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        delay = 0.05
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise EventBusy(
                        f"event {event!r} is being ingested by another run ({_holder(fd)}); "
                        f"waited {wait:g} s. Try again when it has finished."
                    ) from None
                time.sleep(delay)
                delay = min(1.0, delay * 2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


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
