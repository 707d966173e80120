"""The worker processes of this process's detection and embedding steps, kept between steps.

They die with the process that owns them: a worker that outlived a `kill -9` of its owner would sit
under init for ever, holding its models in memory (issue 26). Each worker asks the kernel for SIGKILL
when its parent goes (Linux `prctl(PR_SET_PDEATHSIG)`; the parent is the forkserver, which itself
exits when its owner's end of its pipe closes), and a watchdog thread covers other systems and the
window before the signal was armed: it ends the worker once the owner is gone.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from face_pipeline.lib.models.inference import set_session_threads, threads_per_worker

_shared_pool: tuple[int, int, ProcessPoolExecutor] | None = None  # (owner pid, workers, pool)

#: How often a worker's watchdog looks for its owner.
WATCHDOG_PERIOD_S = 1.0
_PR_SET_PDEATHSIG = 1


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """The worker processes of this process's detection and embedding steps, kept between steps.

    forkserver: workers start clean (no inherited DB connections or Dagster threads) and each
    loads its models once, on first use, through the cached registries. The pool is kept, so the
    embedding step (and the next event) reuse the detection step's workers with their models
    loaded instead of paying ~0.75 s for fresh interpreters, imports and model loads. Each worker's
    ONNX sessions and OpenCV get cores // workers threads (workers x threads = cores).
    """
    global _shared_pool
    if _shared_pool is not None:
        pid, size, pool = _shared_pool
        if pid == os.getpid() and size == workers and not getattr(pool, "_broken", False):
            return pool
        if pid == os.getpid():
            pool.shutdown(wait=False, cancel_futures=True)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("forkserver"),
        initializer=start_worker,
        initargs=(os.getpid(), threads_per_worker(workers)),
    )
    _shared_pool = (os.getpid(), workers, pool)
    return pool


def discard_worker_pool() -> None:
    """After a step failed or was interrupted: its leftover tasks must not delay the next step."""
    global _shared_pool
    if _shared_pool is not None and _shared_pool[0] == os.getpid():
        _shared_pool[2].shutdown(wait=False, cancel_futures=True)
    _shared_pool = None


def close_worker_pool() -> None:
    """At the owner's exit (also after SIGTERM, which the CLI turns into SystemExit): the workers
    stop with it instead of finishing queued tasks nobody will read."""
    discard_worker_pool()


atexit.register(close_worker_pool)


def start_worker(owner_pid: int, threads: int) -> None:
    """Worker initializer: die with the owner; `threads` for this worker's sessions and OpenCV."""
    die_with_owner(owner_pid)
    set_session_threads(threads)
    import cv2

    cv2.setNumThreads(threads)


def die_with_owner(owner_pid: int) -> None:
    """Worker initializer: end this worker when `owner_pid` (the process that made the pool) ends."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)  # this process's libc (find_library would run ldconfig)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still ends the worker
    threading.Thread(target=_watch_owner, args=(owner_pid, parent), name="owner-watchdog", daemon=True).start()


def _watch_owner(owner_pid: int, parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid or not _alive(owner_pid):
            os._exit(1)  # nobody is left to read this worker's results
        time.sleep(WATCHDOG_PERIOD_S)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
