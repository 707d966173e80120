"""The participant page under load: selfie upload to first results, one user and many at once.

The event: the shipped demo photos ingested for real (so the astronauts' lookups find their real
photos, thumbnails and all), plus a crowd of other people's photos written straight into the same
event (random identity vectors: nobody matches them, but every lookup searches them) up to
`photos` photos. `face-pipeline serve` runs as its own process, as in production; clients are
threads of this process posting the demo portraits as selfies. The baseline, in the same run: the
same lookup as an operator runs it today, `face-pipeline find` (a new process each time).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np

from face_pipeline.lib.bundled_files import demo_dir
from face_pipeline.lib.store import VectorStore, face_id_for, statement

EVENT = "participant_bench"
SELFIES = (
    "reference/mastracchio_portrait.jpg",
    "reference_alternates/kotov_portrait.jpg",
    "reference_alternates/usachev_portrait.jpg",
    "reference_alternates/tyurin_portrait_small.jpg",
    "reference_alternates/hadfield_portrait.jpg",
)


@dataclass
class Scenario:
    name: str
    users: int
    latencies: list[float] = field(default_factory=list)  # seconds, selfie posted -> results received
    first_thumbnail: list[float] = field(default_factory=list)  # seconds, -> first thumbnail received
    statuses: dict[int, int] = field(default_factory=dict)
    wall_s: float = 0.0
    others_busy_cores: float = 0.0  # other processes' load just before the scenario started

    def pct(self, q: float, values: list[float] | None = None) -> float:
        values = sorted(self.latencies if values is None else values)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


@dataclass
class ParticipantFigures:
    photos: int
    faces: int
    scenarios: list[Scenario]
    baseline_cli_s: list[float]
    server_peak_rss_mib: float
    found: dict[str, int]


def build_event(settings, store: VectorStore, photos: int, log=print) -> tuple[int, int]:
    """The demo photos ingested as one event, then a crowd of other people's photos up to `photos`."""
    from face_pipeline.lib.ingest.run import ingest_event
    from face_pipeline.lib.models import embedder_for_model_id

    folder = settings.photos_root / EVENT
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for event_dir in sorted((demo_dir() / "photos").iterdir()):
        for f in sorted(event_dir.iterdir()):
            shutil.copy(f, folder / f"{event_dir.name[:7]}_{f.name}")
    ingest_event(settings, store, EVENT)
    with store.connect() as conn:
        real_photos, _ = conn.execute(statement("bench_event_size"), {"event": EVENT}).fetchone()
        model_id, detector = conn.execute(statement("bench_serving_model"), {"event": EVENT}).fetchone()
    dim = embedder_for_model_id(model_id, settings.model_folders).dim
    rng = np.random.default_rng(7)
    crowd = photos - real_photos
    log(f"participant: {real_photos} demo photos ingested; writing {crowd} crowd photos ({model_id}, {dim} dims)")
    with store.connect() as conn, conn.cursor() as cur:
        for i in range(crowd):
            pid = hashlib.sha256(f"crowd-{i}".encode()).hexdigest()[:32]
            n = int(rng.integers(1, 9))  # 1-8 people in a photo
            cur.execute(
                statement("bench_crowd_photo"),
                {
                    "event": EVENT,
                    "photo_id": pid,
                    "path": f"crowd/{i:05d}.jpg",
                    "detector_model": detector,
                    "face_count": n,
                },
            )
            vectors = rng.normal(size=(n, dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            for j in range(n):
                fid = face_id_for(EVENT, pid, detector, j)
                cur.execute(
                    statement("bench_crowd_face"),
                    {"face_id": fid, "event": EVENT, "photo_id": pid, "face_index": j, "detector_model": detector},
                )
                cur.execute(
                    statement("bench_crowd_vector"),
                    {
                        "face_id": fid,
                        "model_id": model_id,
                        "event": EVENT,
                        "embedding": "[" + ",".join(f"{v:.6f}" for v in vectors[j]) + "]",
                    },
                )
        conn.commit()
        cur.execute("ANALYZE photos; ANALYZE faces; ANALYZE face_vectors")
        conn.commit()
        total_photos, total_faces = conn.execute(statement("bench_event_size"), {"event": EVENT}).fetchone()
    return int(total_photos), int(total_faces)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(settings, port: int, log_path: Path) -> subprocess.Popen:
    import httpx

    env = {
        **os.environ,
        **settings.as_environ(),
        "FACE_PIPELINE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "FACE_PIPELINE_LOOKUPS_PER_MINUTE_PER_LINK": "100000",
        "FACE_PIPELINE_LOOKUPS_PER_MINUTE_PER_CLIENT": "100000",
    }
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "face_pipeline.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    raise SystemExit(f"serve did not start: {log_path.read_text()[-2000:]}")


def _one_lookup(client, url: str, selfie: tuple[str, bytes], scenario: Scenario) -> int:
    started = time.perf_counter()
    r = client.post(
        f"{url}/find", files={"selfie": (selfie[0], selfie[1], "image/jpeg")}, headers={"X-Requested-With": "fetch"}
    )
    answered = time.perf_counter() - started
    scenario.latencies.append(answered)
    scenario.statuses[r.status_code] = scenario.statuses.get(r.status_code, 0) + 1
    shown = r.text.count('class="photo"')
    if shown:  # what the phone shows next: the first thumbnail
        src = r.text.split('<img src="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        base = url.split("/s/", 1)[0]
        client.get(base + src)
        scenario.first_thumbnail.append(time.perf_counter() - started)
    return shown


def run_scenario(url: str, selfies: list[tuple[str, bytes]], users: int, per_user: int) -> Scenario:
    import httpx

    scenario = Scenario(f"{users} user{'s' if users > 1 else ''} at once", users)

    def user(k: int) -> None:
        with httpx.Client(timeout=120) as client:
            for i in range(per_user):
                _one_lookup(client, url, selfies[(k + i) % len(selfies)], scenario)

    started = time.perf_counter()
    with ThreadPoolExecutor(users) as pool:
        list(pool.map(user, range(users)))
    scenario.wall_s = time.perf_counter() - started
    return scenario


def _peak_rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def run_participant_benchmark(
    *,
    data_dir: Path,
    dsn: str,
    photos: int,
    alone: int,
    concurrent_users: int,
    per_user: int,
    baseline_runs: int,
    quiet_wait_s: float = 0.0,
    log=print,
) -> ParticipantFigures:
    import httpx

    from face_pipeline.benchmarks.environment import wait_for_quiet
    from face_pipeline.lib.settings import Settings
    from face_pipeline.lib.share import create_link

    work = data_dir / "participant"
    settings = Settings.from_env(photos_root=work / "photos", data_dir=work / "data", dsn=dsn, workers=0)
    store = VectorStore(dsn)
    store.migrate()
    total_photos, total_faces = build_event(settings, store, photos, log=log)
    log(f"participant: event {EVENT}: {total_photos:,} photos, {total_faces:,} faces")
    token, _ = create_link(store, [EVENT], timedelta(days=1))
    port = _free_port()
    proc = _start_server(settings, port, work / "serve.log")
    url = f"http://127.0.0.1:{port}/s/{token}"
    selfies = [(Path(s).name, (demo_dir() / s).read_bytes()) for s in SELFIES]
    try:
        found = {}
        with httpx.Client(timeout=120) as client:
            warm = Scenario("warm-up", 1)
            for name, data in selfies:  # warm-up, and what each selfie finds
                found[name] = _one_lookup(client, url, (name, data), warm)
        log(f"participant: found per selfie {found}")
        busy = wait_for_quiet(quiet_wait_s, log=log) if quiet_wait_s else 0.0
        scenarios = [run_scenario(url, selfies, 1, alone)]
        scenarios[0].others_busy_cores = busy
        log(f"participant: alone p50 {scenarios[0].pct(0.5):.3f} s, p95 {scenarios[0].pct(0.95):.3f} s")
        busy = wait_for_quiet(quiet_wait_s, log=log) if quiet_wait_s else 0.0
        scenarios.append(run_scenario(url, selfies, concurrent_users, per_user))
        scenarios[1].others_busy_cores = busy
        log(
            f"participant: {concurrent_users} at once p50 {scenarios[1].pct(0.5):.3f} s, "
            f"p95 {scenarios[1].pct(0.95):.3f} s"
        )
        peak = _peak_rss_mib(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    baseline = []
    env = {**os.environ, **settings.as_environ()}
    for _ in range(baseline_runs):
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "face_pipeline.cli",
                "find",
                str(demo_dir() / SELFIES[0]),
                "--event",
                EVENT,
                "--no-html",
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        baseline.append(time.perf_counter() - started)
    log(f"participant: baseline `face-pipeline find` median {statistics.median(baseline):.2f} s")
    return ParticipantFigures(total_photos, total_faces, scenarios, baseline, peak, found)


def participant_markdown(f: ParticipantFigures, head: str) -> str:
    base = statistics.median(f.baseline_cli_s) if f.baseline_cli_s else float("nan")
    rows = []
    targets = {1: ("p50", 0.5, 1.0), 20: ("p95", 0.95, 5.0)}
    for s in f.scenarios:
        name, q, limit = targets.get(s.users, ("p95", 0.95, float("nan")))
        ok = s.pct(q) <= limit
        rows.append(
            f"| {s.name} | {len(s.latencies)} | {s.pct(0.5):.3f} s | {s.pct(0.95):.3f} s | "
            f"{max(s.latencies):.3f} s | {s.pct(0.5, s.first_thumbnail):.3f} s | "
            f"{len(s.latencies) / s.wall_s:.1f} | {base / s.pct(0.5):.1f}x | "
            f"{name} ≤ {limit:g} s: {'met' if ok else 'missed'} | "
            f"{', '.join(f'{k}: {v}' for k, v in sorted(s.statuses.items()))} | "
            f"{s.others_busy_cores:.1f} cores |"
        )
    found = ", ".join(f"{k.split('_')[0]} {v}" for k, v in f.found.items())
    return (
        "## Participant page: selfie to results on an event of "
        f"{f.photos:,} photos\n\n{head}\n"
        f"One event of {f.photos:,} photos and {f.faces:,} faces: the 25 demo photos ingested for real and a crowd "
        "of other people's photos (1-8 faces each, random identity vectors) written into the same event. "
        "`face-pipeline serve` runs as its own process (FACE_PIPELINE_WORKERS=0: lookups that run the models at "
        "once = cores); clients are threads of the benchmark on the same 2 cores, posting the 5 demo portraits in "
        "turn. Latency = the selfie posted until the results page is received (the server has decoded the selfie, "
        "found its face, embedded it, searched pgvector twice (query expansion) and rendered the page); 'first "
        "thumbnail' adds the first thumbnail's fetch (decoded and boxed on demand). Baseline, same run: the same "
        f"lookup as `face-pipeline find` (a new process, models loaded each time): median {base:.2f} s of "
        f"{len(f.baseline_cli_s)}; ratio = baseline / p50.\n\n"
        "| scenario | lookups | p50 | p95 | max | first thumbnail p50 | lookups/s | vs baseline | target | HTTP | other load |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        f"Photos found per selfie (on the page, first round): {found}. Server peak memory (VmHWM): "
        f"{f.server_peak_rss_mib:.0f} MiB.\n"
    )
