"""The worker processes of this process's detection and embedding steps, kept between steps."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

_shared_pool: tuple[int, int, ProcessPoolExecutor] | None = None  # (owner pid, workers, pool)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """The worker processes of this process's detection and embedding steps, kept between steps.

    forkserver: workers start clean (no inherited DB connections or Dagster threads) and each
    loads its models once, on first use, through the cached registries. The pool is kept, so the
    embedding step (and the next event) reuse the detection step's workers with their models
    loaded instead of paying ~0.75 s for fresh interpreters, imports and model loads.
    """
    global _shared_pool
    if _shared_pool is not None:
        pid, size, pool = _shared_pool
        if pid == os.getpid() and size == workers and not getattr(pool, "_broken", False):
            return pool
        if pid == os.getpid():
            pool.shutdown(wait=False, cancel_futures=True)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("forkserver"))
    _shared_pool = (os.getpid(), workers, pool)
    return pool


def discard_worker_pool() -> None:
    """After a step failed or was interrupted: its leftover tasks must not delay the next step."""
    global _shared_pool
    if _shared_pool is not None and _shared_pool[0] == os.getpid():
        _shared_pool[2].shutdown(wait=False, cancel_futures=True)
    _shared_pool = None
