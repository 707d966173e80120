"""Search at scale: load N synthetic-but-realistic faces into pgvector, build HNSW, time lookups.

Vectors: real dlib embeddings of the dev data (LFW, the celebrity scenes, WIDER), computed once by
the library's own ingest and cached. From them:

  identity centre = a real embedding + a perturbation of `identity_scale` x the per-dimension
                    spread of the real data (a new person near the real ones)
  stored face     = its identity centre + noise of `face_noise` euclidean length on average
                    (another photo of the same person)
  query           = an identity centre + fresh noise of the same size (a new reference photo)

Faces are spread over events of ~`faces_per_event` faces (1,000: ~250 photos) (an identity mostly stays in its home
event), photos of ~4 faces. Everything is written through `VectorStore.replace_event` (the
library's write path, binary COPY), HNSW built afterwards with the definitions of the migrations.

Lookups go through `VectorStore.search_faces`, the call `find` uses, in a separate process (its
peak memory is the lookup process's). The reference is exact search over the same vectors held in
memory with numpy, timed in the same run; recall@10 counts a returned face as right when its true
distance is within the 10th nearest true distance (ties count as right).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from psycopg import sql

from face_pipeline.benchmarks.environment import (
    load_average,
    own_peak_rss_mib,
    run_watched,
)
from face_pipeline.lib.store.statements import composed, statement
from face_pipeline.lib.store.vector_indexes import ensure_vector_index, index_name

MODEL_ID = "dlib-resnet-v1"
DETECTOR_MODEL = "bench-synthetic"
DIM = 128
K = 10
SHAPES = ("global", "one_event", "small_set", "large_set")
#: face_vectors as the migrations make it, or partitioned (by model, or by a hash of the event).
LAYOUTS = ("single", "by-model", "by-event-hash")


# ---- real embeddings ---------------------------------------------------------------------------


def collect_real_embeddings(
    datasets: Path, work_dir: Path, dsn: str, log: Callable[[str], None] = print, workers: int = 0
) -> np.ndarray:
    """dlib embeddings of every face the library finds in the dev data sets (cached in work_dir)."""
    cache = work_dir / "real_embeddings.npz"
    if cache.is_file():
        with np.load(cache) as z:
            return z["vectors"].copy()
    from face_pipeline.lib.ingest import detect_faces, embed_faces, scan_event
    from face_pipeline.lib.settings import Settings

    sources = {
        "lfw": datasets / "lfw_deepfunneled_subset" / "images",
        "celeb": datasets / "celeb_scenes_dev",
        "wider": datasets / "wider_face_val_groups" / "WIDER_val" / "images",
    }
    photos_root = work_dir / "real-photos"
    # The collection is made of dlib ResNet vectors (MODEL_ID, euclidean), the model whose index
    # BENCHMARKS.md measured; the real ones come from the same models.
    settings = Settings.from_env(
        photos_root=photos_root,
        data_dir=work_dir / "real-data",
        dsn=dsn,
        workers=workers,
        detector="dlib-hog",
        embedder=MODEL_ID,
    )
    out = []
    for event, src in sources.items():
        if not src.is_dir():
            log(f"  {src} not found; skipped")
            continue
        for f in sorted(src.rglob("*")):
            if f.suffix.lower() not in (".jpg", ".jpeg", ".png") or not f.is_file():
                continue
            dest = photos_root / event / f.relative_to(src)
            if not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(f, dest)
                except OSError:
                    shutil.copy2(f, dest)
        t0 = time.perf_counter()
        manifest = scan_event(settings, event)
        faces = detect_faces(settings, manifest)
        emb = embed_faces(settings, faces)
        out.append(emb.vectors)
        log(f"  real embeddings of {event}: {len(emb.vectors)} faces in {time.perf_counter() - t0:.0f} s")
    if not out:
        raise FileNotFoundError(f"no dev data found under {datasets}")
    vectors = np.concatenate(out).astype(np.float32)
    np.savez(cache, vectors=vectors)
    shutil.rmtree(work_dir / "real-data", ignore_errors=True)
    shutil.rmtree(photos_root, ignore_errors=True)
    return vectors


# ---- the synthetic collection ------------------------------------------------------------------


@dataclass
class Collection:
    vectors: np.ndarray  # (n, DIM) float32, sorted by event
    face_ids: np.ndarray  # (n,) str
    event_of: np.ndarray  # (n,) int, event index per face (non-decreasing)
    photo_of: np.ndarray  # (n,) int, photo index within its event
    identity_of: np.ndarray  # (n,) int
    centres: np.ndarray  # (n_identities, DIM)
    event_names: list[str]
    event_start: np.ndarray  # (n_events + 1,) row offsets: event e is rows [start[e], start[e+1])
    face_noise_sigma: float
    seed: int

    @property
    def n(self) -> int:
        return len(self.vectors)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.vectors[:: max(1, self.n // 1000)]).tobytes())
        h.update(f"{self.n}:{self.seed}:{len(self.event_names)}".encode())
        return h.hexdigest()[:16]


def synthesize(
    real: np.ndarray,
    n: int,
    *,
    seed: int = 7,
    faces_per_identity: float = 6.0,
    faces_per_event: int = 1000,
    faces_per_photo: int = 4,
    identity_scale: float = 0.5,
    face_noise: float = 0.25,
    home_share: float = 0.9,
) -> Collection:
    rng = np.random.default_rng(seed)
    real = np.asarray(real, dtype=np.float32)
    n_ident = max(1, math.ceil(n / faces_per_identity))
    n_events = max(1, math.ceil(n / faces_per_event))
    spread = real.std(axis=0)
    src = rng.integers(len(real), size=n_ident)
    centres = (real[src] + rng.normal(size=(n_ident, real.shape[1])) * (identity_scale * spread)).astype(np.float32)
    sigma = face_noise / math.sqrt(real.shape[1])
    identity_of = rng.integers(n_ident, size=n)
    vectors = (centres[identity_of] + rng.normal(scale=sigma, size=(n, real.shape[1]))).astype(np.float32)
    home = rng.integers(n_events, size=n_ident)
    event_of = np.where(rng.random(n) < home_share, home[identity_of], rng.integers(n_events, size=n))
    order = np.argsort(event_of, kind="stable")
    vectors, identity_of, event_of = vectors[order], identity_of[order], event_of[order]
    counts = np.bincount(event_of, minlength=n_events)
    start = np.concatenate([[0], np.cumsum(counts)])
    photo_of = (np.arange(n) - start[event_of]) // faces_per_photo
    width = max(5, len(str(n_events)))
    names = [f"bench-{e:0{width}d}" for e in range(n_events)]
    face_ids = np.array([hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()[:32] for i in range(n)], dtype="<U32")
    return Collection(vectors, face_ids, event_of, photo_of, identity_of, centres, names, start, sigma, seed)


def identity_crowding(col: Collection, within: float, *, sample: int = 2000, seed: int = 5) -> float:
    """Mean number of other identity centres within `within` of a sampled identity's centre: how many
    neighbouring people the generator packs within a link threshold (it derives identities from a
    fixed pool of real embeddings, so the number grows with the collection)."""
    centres = np.asarray(col.centres, dtype=np.float32)
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(centres), size=min(sample, len(centres)), replace=False)
    sq = (centres * centres).sum(1)
    close = 0
    for lo in range(0, len(picked), 500):
        rows = picked[lo : lo + 500]
        d2 = sq[rows, None] + sq[None, :] - 2 * centres[rows] @ centres.T
        close += int((d2 < within * within).sum()) - len(rows)  # less each centre itself
    return close / len(picked)


# ---- loading -----------------------------------------------------------------------------------


def event_writes(col: Collection, events: range | list[int] | None = None) -> Iterator:
    """One EventWrite per event, as the ingest would build it."""
    from face_pipeline.lib.store import EventWrite, FaceRow, PhotoRow

    for e in events if events is not None else range(len(col.event_names)):
        lo, hi = int(col.event_start[e]), int(col.event_start[e + 1])
        if lo == hi:
            continue
        name = col.event_names[e]
        photos: dict[int, PhotoRow] = {}
        faces = []
        for i in range(lo, hi):
            p = int(col.photo_of[i])
            pid = f"{e:08x}{p:024x}"
            if p not in photos:
                photos[p] = PhotoRow(pid, f"img_{p:05d}.jpg", 250_000, 1024, 768, None, 0)
            photos[p].face_count += 1
            x = 40 + 120 * (photos[p].face_count - 1)
            faces.append(
                FaceRow(
                    str(col.face_ids[i]),
                    pid,
                    photos[p].face_count - 1,
                    (x, 100, x + 90, 190),
                    1.0,
                    [
                        float(x + 20),
                        130.0,
                        float(x + 70),
                        130.0,
                        float(x + 45),
                        160.0,
                        float(x + 30),
                        175.0,
                        float(x + 60),
                        175.0,
                    ],
                    "",
                )
            )
        yield EventWrite(name, DETECTOR_MODEL, MODEL_ID, list(photos.values()), faces, col.vectors[lo:hi])


def hnsw_index_defs(conn) -> list[tuple[str, str]]:
    return conn.execute(statement("bench_hnsw_index_definitions")).fetchall()


_WRITES: list | None = None  # set in the parent before forking the writers
_WRITES_DSN = ""


def _write_some(indices: list[int]) -> int:
    from face_pipeline.lib.store import VectorStore

    store = VectorStore(_WRITES_DSN)
    n = 0
    for i in indices:
        store.replace_event(_WRITES[i])
        n += len(_WRITES[i].faces)
    return n


def _write_events(
    dsn: str, col: Collection, events: list[int], workers: int, log: Callable[[str], None]
) -> tuple[int, float]:
    """Write events through `VectorStore.replace_event`, in `workers` forked processes; returns
    (faces, seconds). The EventWrites are built first, outside the clock: in an ingest they
    already exist when the write starts, and building them here is the benchmark's own work."""
    global _WRITES, _WRITES_DSN
    _WRITES, _WRITES_DSN = list(event_writes(col, events)), dsn
    chunks = [list(range(i, min(i + 10, len(_WRITES)))) for i in range(0, len(_WRITES), 10)]
    done = 0
    t0 = last = time.perf_counter()
    try:
        if workers <= 1:
            results = map(_write_some, chunks)
            pool = None
        else:
            import multiprocessing

            # fork: the writers share the prepared writes with the parent, copy-on-write.
            pool = multiprocessing.get_context("fork").Pool(workers)
            results = pool.imap_unordered(_write_some, chunks)
        for n in results:
            done += n
            if time.perf_counter() - last > 30:
                last = time.perf_counter()
                log(f"  loaded {done:,} faces ({done / (last - t0):,.0f}/s)")
        if pool is not None:
            pool.close()
            pool.join()
        seconds = time.perf_counter() - t0
    finally:
        _WRITES = None
    return done, seconds


def apply_layout(store, layout: str, partitions: int = 8) -> None:
    """Rebuild face_vectors, empty, in `layout`, with the model's HNSW index made from the same
    template the library uses (store/vector_indexes.py); the load then drops and rebuilds it."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r}: choose one of {LAYOUTS}")
    with store.connect() as conn:
        conn.execute(statement("bench_empty_tables"))
        conn.execute(statement("bench_drop_face_vectors"))
        key, partitioning = {
            "single": ("face_id, model_id", ""),
            "by-model": ("face_id, model_id", "PARTITION BY LIST (model_id)"),
            "by-event-hash": ("face_id, model_id, event", "PARTITION BY HASH (event)"),
        }[layout]
        conn.execute(composed("bench_create_face_vectors", key=sql.SQL(key), partitioning=sql.SQL(partitioning)))
        if layout == "by-model":
            conn.execute(
                composed(
                    "bench_create_model_partition",
                    partition=sql.Identifier("face_vectors_m_bench"),
                    model_id=sql.Literal(MODEL_ID),
                )
            )
            conn.execute(statement("bench_create_default_partition"))
        elif layout == "by-event-hash":
            for r in range(partitions):
                conn.execute(
                    composed(
                        "bench_create_hash_partition",
                        partition=sql.Identifier(f"face_vectors_h{r}"),
                        modulus=sql.Literal(partitions),
                        remainder=sql.Literal(r),
                    )
                )
        conn.execute(statement("bench_create_face_vectors_event_index"))
        ensure_vector_index(conn, MODEL_ID, DIM, "l2")
        conn.commit()


def bare_copy_rate(store, col: Collection, rows: int = 200_000) -> float:
    """The same vector rows by binary COPY into a temporary table without keys, indexes or WAL:
    what the disk-free part of the database can take, against which the real write is judged."""
    from face_pipeline.lib.store.binary_copy import vector_rows

    n = min(rows, col.n)
    data = vector_rows(col.face_ids[:n].tolist(), MODEL_ID, col.event_names[0], col.vectors[:n])
    with store.connect() as conn:
        conn.execute(statement("bench_create_bare_vectors"))
        t0 = time.perf_counter()
        with conn.cursor() as cur, cur.copy(statement("bench_copy_bare_vectors")) as copy:
            copy.write(data)
        conn.commit()
        return n / (time.perf_counter() - t0)


@dataclass
class LoadFigures:
    rows: int = 0
    events: int = 0
    seconds: float = 0.0
    rows_per_s: float = 0.0
    index_build_seconds: float = 0.0
    index_bytes: int = 0
    table_bytes: int = 0
    maintenance_work_mem: str = ""
    parallel_workers: int = 0
    load_workers: int = 1
    bare_copy_rows_per_s: float = 0.0
    photo_rows: int = 0
    all_rows_per_s: float = 0.0  # photos + faces + face_vectors rows written per second
    incremental_rows: int = 0
    incremental_rows_per_s: float = 0.0
    index_params: str = ""
    reused: bool = False


def load_collection(
    store,
    col: Collection,
    *,
    maintenance_work_mem: str,
    parallel_workers: int,
    load_workers: int,
    log: Callable[[str], None] = print,
    holdout_events: int = 0,
    saved_index_defs: Path | None = None,
) -> LoadFigures:
    """Empty the bench database, write every event without the HNSW index, then build it.

    Bulk loading first and indexing after is how a large backfill should run (pgvector's advice);
    the last `holdout_events` events are written afterwards, with the index in place, which is
    what a routine ingest of one more event costs. `load_workers` processes write events side by
    side, as concurrent Dagster runs of different events do.
    """
    figs = LoadFigures(maintenance_work_mem=maintenance_work_mem, parallel_workers=parallel_workers)
    defs = _empty_without_hnsw(store, saved_index_defs)
    n_events = len(col.event_names)
    bulk = range(0, n_events - holdout_events)
    done, figs.seconds = _write_events(store.dsn, col, list(bulk), load_workers, log)
    figs.rows, figs.events, figs.load_workers = done, len(bulk), load_workers
    figs.rows_per_s = done / figs.seconds
    with store.connect() as conn:
        figs.photo_rows = conn.execute(statement("bench_count_photos")).fetchone()[0]
    figs.all_rows_per_s = (2 * done + figs.photo_rows) / figs.seconds
    log(
        f"  loaded {done:,} faces in {figs.seconds:.1f} s ({figs.rows_per_s:,.0f} faces/s, "
        f"{figs.all_rows_per_s:,.0f} rows/s of photos + faces + face_vectors); building HNSW"
    )
    figs.bare_copy_rows_per_s = bare_copy_rate(store, col)
    log(f"  physical reference: binary COPY into a bare table at {figs.bare_copy_rows_per_s:,.0f} rows/s")
    _build_hnsw(store, defs, figs)
    log(f"  HNSW built in {figs.index_build_seconds:.1f} s ({figs.index_bytes / 2**20:,.0f} MiB)")
    if holdout_events:
        rows, seconds = _write_events(store.dsn, col, list(range(n_events - holdout_events, n_events)), 1, log)
        figs.incremental_rows = rows
        figs.incremental_rows_per_s = rows / seconds
        log(f"  {rows:,} more faces with the index in place: {figs.incremental_rows_per_s:,.0f} faces/s")
    return figs


def _empty_without_hnsw(store, saved_index_defs: Path | None) -> list[tuple[str, str]]:
    """Empty the tables and drop the HNSW indexes (returning their definitions) so the bulk load runs without them."""
    with store.connect() as conn:
        conn.execute(statement("bench_empty_tables"))
        defs = hnsw_index_defs(conn)
        if saved_index_defs is not None:
            # A run interrupted between dropping and rebuilding the indexes left them out of the
            # database (the migrations that made them are recorded as applied): take their
            # definitions from the file it wrote, and write the file before dropping them again.
            if saved_index_defs.exists():
                present = {name for name, _ in defs}
                defs += [(n, d) for n, d in json.loads(saved_index_defs.read_text()) if n not in present]
            saved_index_defs.write_text(json.dumps(defs))
        for name, _ in defs:
            conn.execute(composed("bench_drop_index", name=sql.Identifier(name)))  # names read from pg_indexes
        conn.commit()
    return defs


def _build_hnsw(store, defs: list[tuple[str, str]], figs: LoadFigures) -> None:
    """Build the dropped HNSW indexes under the run's maintenance settings, timed, and note their sizes in `figs`."""
    with store.connect() as conn:
        conn.autocommit = True
        conn.execute(statement("bench_analyze"))
        conn.execute(composed("bench_set_maintenance_work_mem", value=sql.Literal(figs.maintenance_work_mem)))
        conn.execute(composed("bench_set_parallel_maintenance_workers", value=sql.Literal(int(figs.parallel_workers))))
        t1 = time.perf_counter()
        for _, definition in defs:
            # pg_indexes shows a partitioned table's index as `ON ONLY parent`, which would make an
            # empty parent index; without ONLY it is built on every partition.
            conn.execute(definition.replace(" ON ONLY ", " ON "))
        # The benchmark's own model always gets its index, from the library's template, even when
        # no definition was found (a run killed between drop and build leaves none behind).
        ensure_vector_index(conn, MODEL_ID, DIM, "l2")
        figs.index_build_seconds = time.perf_counter() - t1
        bench_index = index_name(MODEL_ID)
        figs.index_bytes = conn.execute(statement("bench_relation_size"), {"name": bench_index}).fetchone()[0]
        figs.index_params = conn.execute(statement("bench_index_definition"), {"name": bench_index}).fetchone()[0]
        figs.table_bytes = conn.execute(statement("bench_table_size")).fetchone()[0]


# ---- queries -----------------------------------------------------------------------------------


@dataclass
class Queries:
    vectors: np.ndarray  # (q, DIM)
    one_event: list[str]
    small_set: list[list[str]]
    large_set: list[list[str]]

    def events_for(self, shape: str, i: int) -> list[str] | None:
        return {
            "global": None,
            "one_event": [self.one_event[i]],
            "small_set": self.small_set[i],
            "large_set": self.large_set[i],
        }[shape]

    def save(self, path: Path) -> None:
        path.write_text(
            json.dumps(
                {
                    "vectors": self.vectors.tolist(),
                    "one_event": self.one_event,
                    "small_set": self.small_set,
                    "large_set": self.large_set,
                }
            )
        )

    @classmethod
    def load(cls, path: Path) -> Queries:
        d = json.loads(path.read_text())
        return cls(np.asarray(d["vectors"], dtype=np.float32), d["one_event"], d["small_set"], d["large_set"])


def make_queries(col: Collection, n_queries: int, *, small_set: int, large_set: int, seed: int = 11) -> Queries:
    """A new photo of a stored person; the event(s) to search include one where that person is."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(col.n, size=n_queries)
    ident = col.identity_of[rows]
    vecs = (col.centres[ident] + rng.normal(scale=col.face_noise_sigma, size=(n_queries, DIM))).astype(np.float32)
    n_events = len(col.event_names)
    one, small, large = [], [], []
    for r in rows:
        home = int(col.event_of[r])
        others = [int(e) for e in rng.permutation(n_events) if e != home]
        one.append(col.event_names[home])
        small.append([col.event_names[e] for e in [home, *others[: small_set - 1]]])
        large.append([col.event_names[e] for e in [home, *others[: large_set - 1]]])
    return Queries(vecs, one, small, large)


# ---- the exact reference in memory -------------------------------------------------------------


class ExactIndex:
    """Exact nearest neighbours over the collection in memory (numpy); events are row ranges."""

    def __init__(self, col: Collection):
        self.col = col
        self.x = col.vectors
        self.sq = np.einsum("ij,ij->i", self.x, self.x)
        self.event_index = {name: e for e, name in enumerate(col.event_names)}

    def rows_of(self, events: list[str] | None) -> list[tuple[int, int]]:
        if events is None:
            return [(0, self.col.n)]
        s = self.col.event_start
        return [(int(s[self.event_index[e]]), int(s[self.event_index[e] + 1])) for e in events]

    def search(self, q: np.ndarray, events: list[str] | None, k: int = K) -> tuple[np.ndarray, np.ndarray]:
        """(row indices, distances) of the k nearest, nearest first; float32 like pgvector."""
        parts_i, parts_d = [], []
        qsq = float(q @ q)
        for lo, hi in self.rows_of(events):
            d2 = self.sq[lo:hi] - 2.0 * (self.x[lo:hi] @ q) + qsq
            kk = min(k, hi - lo)
            if kk <= 0:
                continue
            top = np.argpartition(d2, kk - 1)[:kk] if hi - lo > kk else np.arange(hi - lo)
            parts_i.append(top + lo)
            parts_d.append(d2[top])
        idx = np.concatenate(parts_i)
        d2 = np.concatenate(parts_d)
        best = np.argsort(d2, kind="stable")[:k]
        return idx[best], np.sqrt(np.maximum(d2[best], 0.0))

    def true_distances(self, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        diff = self.x[rows].astype(np.float64) - q.astype(np.float64)
        return np.sqrt((diff * diff).sum(axis=1))


def recall_at_k(
    exact: ExactIndex, q: np.ndarray, events: list[str] | None, returned_rows: list[int], k: int = K
) -> float:
    """Share of the true top-k that came back; a face tied with the k-th true distance counts."""
    truth_rows, _ = exact.search(q, events, k=k + 20)
    truth_d = exact.true_distances(q, truth_rows)
    kth = np.sort(truth_d)[min(k, len(truth_d)) - 1]
    want = min(k, len(truth_d))
    if not returned_rows:
        return 0.0
    got = exact.true_distances(q, np.asarray(returned_rows[:k]))
    allowed = set(exact.rows_of(events)) if events is not None else None
    ok = 0
    for row, d in zip(returned_rows[:k], got, strict=True):
        if allowed is not None and not any(lo <= row < hi for lo, hi in allowed):
            continue  # a face outside the events asked for is wrong, however near
        ok += d <= kth + 1e-5
    return ok / want


# ---- lookups through the library, in a child process -------------------------------------------


def run_lookups(
    dsn: str,
    queries: Queries,
    *,
    rounds: int,
    warmup: int,
    shapes: tuple[str, ...],
    settings_overrides: dict | None = None,
) -> dict:
    """Time `VectorStore.search_faces` for every query and shape (runs inside the lookup process)."""
    from face_pipeline.lib.store import VectorStore
    from face_pipeline.lib.store import vector_store as store_module

    for key, value in (settings_overrides or {}).items():
        setattr(store_module, key, value)  # e.g. HNSW_EF_SEARCH, for the ef_search sweep
    store = VectorStore(dsn)
    n = len(queries.vectors)
    lat = {s: [] for s in shapes}
    ids: dict[str, list[list[str]]] = {s: [] for s in shapes}
    for i in range(min(warmup, n)):
        for s in shapes:
            store.search_faces(
                queries.vectors[i], model_id=MODEL_ID, dim=DIM, metric="l2", events=queries.events_for(s, i), limit=K
            )
    for r in range(rounds):
        for i in range(n):
            for s in shapes:
                t0 = time.perf_counter()
                res = store.search_faces(
                    queries.vectors[i],
                    model_id=MODEL_ID,
                    dim=DIM,
                    metric="l2",
                    events=queries.events_for(s, i),
                    limit=K,
                )
                lat[s].append((time.perf_counter() - t0) * 1000)
                if r == 0:
                    ids[s].append([m.face_id for m in res])
    return {"latency_ms": lat, "ids": ids, "peak_rss_self_mib": own_peak_rss_mib()}


def lookup_child(
    dsn: str,
    queries_path: Path,
    out_path: Path,
    *,
    rounds: int,
    warmup: int,
    shapes: tuple[str, ...],
    overrides: dict | None = None,
    server_pid: int | None = None,
) -> tuple[dict, dict]:
    """Run `run_lookups` in a fresh process; returns its results and the measured process usage."""
    cmd = [
        sys.executable,
        "-m",
        "face_pipeline.benchmarks",
        "_lookup-once",
        "--dsn",
        dsn,
        "--queries",
        str(queries_path),
        "--json",
        str(out_path),
        "--rounds",
        str(rounds),
        "--warmup",
        str(warmup),
        "--shapes",
        ",".join(shapes),
        "--overrides",
        json.dumps(overrides or {}),
    ]
    lookups, server = run_watched(cmd, server_pid, "lookup")
    usage = {
        "lookup_peak_rss_mib": lookups.peak_tree_mib,
        "server_peak_rss_mib": server.peak_tree_mib if server else None,
        "others_cores": lookups.others_cores,
    }
    return json.loads(out_path.read_text()), usage


# ---- figures -----------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), p)) if values else float("nan")


@dataclass
class ShapeFigures:
    shape: str
    rows_searched_median: float
    p50_ms: float
    p95_ms: float
    recall_mean: float
    recall_min: float
    numpy_p50_ms: float
    numpy_p95_ms: float
    p50_per_round: list[float] = field(default_factory=list)
    numpy_p50_per_round: list[float] = field(default_factory=list)

    @property
    def ratio_vs_numpy(self) -> float:
        # Median over the rounds of (pgvector p50 / numpy p50), each pair from the same round.
        r = [a / b for a, b in zip(self.p50_per_round, self.numpy_p50_per_round, strict=True) if b > 0]
        return float(np.median(r)) if r else float("nan")


@dataclass
class SearchFigures:
    n: int
    events: int
    identities: int
    queries: int
    rounds: int
    small_set: int
    large_set: int
    load: LoadFigures
    shapes: list[ShapeFigures]
    sweep: list[dict]
    lookup_peak_rss_mib: float
    server_peak_rss_mib: float | None
    numpy_process_peak_rss_mib: float
    load_before: str
    load_after: str
    others_cores: float
    real_vectors: int
    nn_distance_real: float
    nn_distance_synthetic: float
    layout: str = "single"
    partitions: int = 1

    def to_json(self) -> dict:
        d = asdict(self)
        for s, shape in zip(d["shapes"], self.shapes, strict=True):
            s["ratio_vs_numpy"] = shape.ratio_vs_numpy
        return d


def _nn_distance(x: np.ndarray, sample: int, rng) -> float:
    """Median distance from a face to its nearest other face (how crowded the space is)."""
    idx = rng.choice(len(x), size=min(sample, len(x)), replace=False)
    sq = np.einsum("ij,ij->i", x, x)
    out = []
    for i in idx:
        d2 = sq - 2 * (x @ x[i]) + sq[i]
        d2[i] = np.inf
        out.append(math.sqrt(max(float(d2.min()), 0.0)))
    return float(np.median(out))


def run_search_benchmark(
    *,
    dsn: str,
    server_pid: int | None,
    real: np.ndarray,
    n: int,
    work_dir: Path,
    n_queries: int,
    rounds: int,
    small_set: int,
    large_set_share: float,
    maintenance_work_mem: str,
    parallel_workers: int,
    load_workers: int,
    sweep_ef: list[int],
    reuse: bool,
    seed: int = 7,
    layout: str = "single",
    partitions: int = 8,
    log: Callable[[str], None] = print,
) -> SearchFigures:
    """A collection of `n` faces loaded (or reused), then each query shape timed against exact numpy search."""
    from face_pipeline.lib.store import VectorStore

    load_before = load_average()
    store = VectorStore(dsn)
    store.migrate()
    t0 = time.perf_counter()
    col = synthesize(real, n, seed=seed)
    log(
        f"  synthesised {col.n:,} faces, {len(col.centres):,} identities, {len(col.event_names):,} events "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    load = _loaded_collection(
        store,
        col,
        work_dir,
        n,
        reuse=reuse,
        layout=layout,
        partitions=partitions,
        maintenance_work_mem=maintenance_work_mem,
        parallel_workers=parallel_workers,
        load_workers=load_workers,
        log=log,
    )

    large_set = max(small_set + 1, round(large_set_share * len(col.event_names)))
    queries = make_queries(col, n_queries, small_set=small_set, large_set=large_set)
    qpath = work_dir / "queries.json"
    queries.save(qpath)
    exact = ExactIndex(col)
    row_of = {fid: i for i, fid in enumerate(col.face_ids.tolist())}

    # Lookups: `rounds` rounds in one lookup process, then numpy over the same queries, per round.
    result, usage = lookup_child(
        dsn,
        qpath,
        work_dir / "lookups.json",
        rounds=rounds,
        warmup=min(20, n_queries),
        shapes=SHAPES,
        server_pid=server_pid,
    )
    numpy_lat = _numpy_latencies(exact, queries, n_queries, rounds)
    shapes = [_shape_figures(s, result, numpy_lat[s], exact, queries, row_of, n_queries, rounds, log) for s in SHAPES]
    sweep = [_ef_sweep_point(ef, dsn, qpath, work_dir, exact, queries, row_of, n_queries, log) for ef in sweep_ef]

    rng = np.random.default_rng(3)
    return SearchFigures(
        n=col.n,
        events=len(col.event_names),
        identities=len(col.centres),
        queries=n_queries,
        rounds=rounds,
        small_set=small_set,
        large_set=large_set,
        load=load,
        shapes=shapes,
        sweep=sweep,
        lookup_peak_rss_mib=usage["lookup_peak_rss_mib"],
        server_peak_rss_mib=usage["server_peak_rss_mib"],
        numpy_process_peak_rss_mib=own_peak_rss_mib(),
        load_before=load_before,
        load_after=load_average(),
        others_cores=usage["others_cores"],
        real_vectors=len(real),
        nn_distance_real=_nn_distance(np.asarray(real, np.float32), 300, rng),
        nn_distance_synthetic=_nn_distance(col.vectors, 300, rng),
        layout=layout,
        partitions=partitions if layout == "by-event-hash" else 1,
    )


def _loaded_collection(
    store,
    col: Collection,
    work_dir: Path,
    n: int,
    *,
    reuse: bool,
    layout: str,
    partitions: int,
    maintenance_work_mem: str,
    parallel_workers: int,
    load_workers: int,
    log: Callable[[str], None],
) -> LoadFigures:
    """The collection an earlier run loaded (--reuse, same fingerprint), or loaded now and recorded for the next."""
    meta_path = work_dir / f"load-{n}.json"
    with store.connect() as conn:
        conn.execute(statement("bench_create_collection_record"))
        row = conn.execute(statement("bench_collection_figures"), {"fingerprint": col.fingerprint()}).fetchone()
        conn.commit()
    holdout = max(1, len(col.event_names) // 100)
    if reuse and row is not None and meta_path.is_file():
        load = LoadFigures(**json.loads(meta_path.read_text()))
        load.reused = True
        log("  reusing the collection already loaded in this database (--reuse)")
        return load
    apply_layout(store, layout, partitions)
    load = load_collection(
        store,
        col,
        maintenance_work_mem=maintenance_work_mem,
        parallel_workers=parallel_workers,
        load_workers=load_workers,
        log=log,
        holdout_events=holdout,
        saved_index_defs=work_dir.parent / "hnsw_indexes.json",
    )
    meta_path.write_text(json.dumps(asdict(load)))
    with store.connect() as conn:
        conn.execute(statement("bench_forget_collections"))
        conn.execute(
            statement("bench_record_collection"),
            {"fingerprint": col.fingerprint(), "figures": json.dumps(asdict(load))},
        )
        conn.commit()
    return load


def _numpy_latencies(exact: ExactIndex, queries: Queries, n_queries: int, rounds: int) -> dict[str, list[float]]:
    """Exact numpy search over the same queries, round by round: the in-memory floor each shape is held to."""
    numpy_lat: dict[str, list[float]] = {s: [] for s in SHAPES}
    for _ in range(rounds):
        for i in range(n_queries):
            for s in SHAPES:
                t = time.perf_counter()
                exact.search(queries.vectors[i], queries.events_for(s, i))
                numpy_lat[s].append((time.perf_counter() - t) * 1000)
    return numpy_lat


def _recalls(
    exact: ExactIndex, queries: Queries, shape: str, ids: list[list[str]], row_of: dict[str, int], n_queries: int
) -> list[float]:
    """recall@10 of each query's returned face ids, against exact search within the shape's events."""
    return [
        recall_at_k(exact, queries.vectors[i], queries.events_for(shape, i), [row_of[f] for f in ids[i]])
        for i in range(n_queries)
    ]


def _shape_figures(
    s: str,
    result: dict,
    numpy_lat: list[float],
    exact: ExactIndex,
    queries: Queries,
    row_of: dict[str, int],
    n_queries: int,
    rounds: int,
    log: Callable[[str], None],
) -> ShapeFigures:
    """One query shape's figures: latency per round beside numpy's in the same round, recall, rows in scope."""
    recalls = _recalls(exact, queries, s, result["ids"][s], row_of, n_queries)
    lat = result["latency_ms"][s]
    per_round = [percentile(lat[r * n_queries : (r + 1) * n_queries], 50) for r in range(rounds)]
    np_round = [percentile(numpy_lat[r * n_queries : (r + 1) * n_queries], 50) for r in range(rounds)]
    rows = [sum(hi - lo for lo, hi in exact.rows_of(queries.events_for(s, i))) for i in range(n_queries)]
    figs = ShapeFigures(
        s,
        float(np.median(rows)),
        float(np.median(per_round)),
        percentile(lat, 95),
        float(np.mean(recalls)),
        float(np.min(recalls)),
        float(np.median(np_round)),
        percentile(numpy_lat, 95),
        per_round,
        np_round,
    )
    log(
        f"  {s}: p50 {figs.p50_ms:.1f} ms, p95 {figs.p95_ms:.1f} ms, "
        f"recall@10 {figs.recall_mean:.4f}, worst-query recall {figs.recall_min:.2f}, "
        f"numpy p50 {figs.numpy_p50_ms:.1f} ms"
    )
    return figs


def _ef_sweep_point(
    ef: int,
    dsn: str,
    qpath: Path,
    work_dir: Path,
    exact: ExactIndex,
    queries: Queries,
    row_of: dict[str, int],
    n_queries: int,
    log: Callable[[str], None],
) -> dict:
    """Global lookups at one `hnsw.ef_search`, in a lookup process of their own: what recall that value buys."""
    res, _ = lookup_child(
        dsn,
        qpath,
        work_dir / f"sweep-{ef}.json",
        rounds=1,
        warmup=min(20, n_queries),
        shapes=("global",),
        overrides={"HNSW_EF_SEARCH": ef},
    )
    recalls = _recalls(exact, queries, "global", res["ids"]["global"], row_of, n_queries)
    lat = res["latency_ms"]["global"]
    point = {
        "ef_search": ef,
        "p50_ms": percentile(lat, 50),
        "p95_ms": percentile(lat, 95),
        "recall_mean": float(np.mean(recalls)),
        "recall_min": float(np.min(recalls)),
    }
    log(
        f"  sweep ef_search={ef}: p50 {point['p50_ms']:.1f} ms, recall@10 {point['recall_mean']:.4f}, "
        f"worst-query recall {point['recall_min']:.2f}"
    )
    return point


def strategies(figs: SearchFigures, store_module) -> dict[str, str]:
    """How `search_faces` served each query shape, by the store's own rule and the median rows."""
    out = {"global": f"HNSW, ef_search {store_module.HNSW_EF_SEARCH}"}
    for s in figs.shapes:
        if s.shape == "global":
            continue
        exact = store_module.exact_event_search(int(s.rows_searched_median), figs.n)
        out[s.shape] = (
            "exact (bitmap scan + sort)"
            if exact
            else f"HNSW iterative scan (relaxed order), ef_search {store_module.ITERATIVE_EF_SEARCH}"
        )
    return out
