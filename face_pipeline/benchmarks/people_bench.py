"""People at scale: grouping every stored face into people (`recluster`, the explicit full pass) and
one new event of 500 faces into them (`update_people_for_event`, what the `people` asset runs after
each ingest), time and peak memory, at 100 k and 1 M faces.

The collection is the search benchmark's (search_bench.synthesize: identity centres near real dlib
embeddings, ~6 faces per identity, events of ~1,000 faces, four faces a photo), written through the
library's write path with its HNSW index built. Each grouping runs in a child process, watched with
the PostgreSQL server (the neighbour queries run there), so that both peaks are measured. The
grouping is also scored against the collection's true identities (BCubed), so a fast wrong answer
shows as one. Before the groupings, the links of a sample of faces are searched at several
hnsw.ef_search values (`--people-link-ef`): the check behind the links' own, smaller ef_search.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from face_pipeline.benchmarks import search_bench
from face_pipeline.benchmarks.environment import load_average, own_peak_rss_mib, run_watched
from face_pipeline.lib.store.statements import statement

NEW_EVENT = "bench-new-event"
NEW_EVENT_FACES = 500
KNOWN_SHARE = 0.6  # of the new event's faces, those of people already stored; the rest are new people
LINK_SAMPLE = 4096  # faces whose links are searched at each ef_search


@dataclass
class LinkEfRun:
    ef_search: int
    faces: int
    links: int
    missing: int  # links the first (largest) ef_search found and this one did not
    extra: int
    seconds: float
    connections: int


@dataclass
class GroupingRun:
    action: str  # "recluster" or "update"
    faces: int
    links: int
    people: int
    seconds: float
    peak_rss_mib: float  # the grouping process
    server_peak_rss_mib: float  # PostgreSQL, where the neighbour queries run
    bcubed_precision: float = float("nan")
    bcubed_recall: float = float("nan")
    load_before: str = ""
    load_after: str = ""


@dataclass
class PeopleFigures:
    n: int
    identities: int
    events: int
    link_threshold: float
    crowding: float = float("nan")  # other identities' centres within the link threshold, on average
    real_pool: int = 0  # the real embeddings the identities are drawn from
    load_seconds: float = 0.0
    index_build_seconds: float = 0.0
    runs: list[GroupingRun] = field(default_factory=list)
    link_ef_runs: list[LinkEfRun] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def new_event_write(col: search_bench.Collection, *, seed: int = 23):
    """An event of NEW_EVENT_FACES faces: KNOWN_SHARE of them new photos of stored people, the rest
    of people never seen; returns the EventWrite and each face's true identity."""
    from face_pipeline.lib.store import EventWrite, FaceRow, PhotoRow

    rng = np.random.default_rng(seed)
    known = int(NEW_EVENT_FACES * KNOWN_SHARE)
    ident = np.concatenate(
        [rng.choice(np.unique(col.identity_of), size=known, replace=True), -1 - np.arange(NEW_EVENT_FACES - known)]
    )  # negative: new people
    centres = np.where(
        ident[:, None] >= 0,
        col.centres[np.maximum(ident, 0)],
        col.centres[rng.integers(len(col.centres), size=len(ident))]
        + rng.normal(scale=3 * col.face_noise_sigma, size=(len(ident), col.vectors.shape[1])),
    )
    vectors = (centres + rng.normal(scale=col.face_noise_sigma, size=centres.shape)).astype(np.float32)
    photos, faces = [], []
    for i in range(NEW_EVENT_FACES):
        photo_id = f"{0xFFFFFF:08x}{i:024x}"  # one face a photo: new people's faces never share one
        photos.append(PhotoRow(photo_id, f"new_{i:04d}.jpg", 250_000, 1024, 768, None, 1))
        faces.append(
            FaceRow(
                face_id=f"new{seed}-{i:06d}",
                photo_id=photo_id,
                face_index=0,
                box=(40, 100, 130, 190),
                score=1.0,
                landmarks=[60.0, 130.0, 110.0, 130.0, 85.0, 160.0, 70.0, 175.0, 100.0, 175.0],
                crop_path="",
            )
        )
    write = EventWrite(NEW_EVENT, search_bench.DETECTOR_MODEL, search_bench.MODEL_ID, photos, faces, vectors)
    return write, {f.face_id: f"new:{int(t)}" if t < 0 else f"id:{int(t)}" for f, t in zip(faces, ident, strict=True)}


def group_once(dsn: str, action: str, data_dir: Path) -> dict:
    """In the measured child: the library's grouping, as the asset or the command runs it."""
    from face_pipeline.lib.people.update import recluster, update_people_for_event
    from face_pipeline.lib.settings import Settings
    from face_pipeline.lib.store import VectorStore

    settings = Settings.from_env(
        photos_root=data_dir / "photos", data_dir=data_dir, dsn=dsn, detector="dlib-hog"
    )  # the collection's faces are dlib's
    store = VectorStore(dsn)
    t0 = time.perf_counter()
    if action == "recluster":
        [r] = recluster(settings, store)
        out = {"faces": r.faces, "links": r.links, "people": r.people}
    else:
        u = update_people_for_event(settings, store, NEW_EVENT)
        out = {"faces": u.faces, "links": u.links, "people": len(u.people)}
    return {**out, "seconds": time.perf_counter() - t0, "peak_rss_self_mib": own_peak_rss_mib()}


def _measured_child(dsn: str, action: str, data_dir: Path, server_pid: int | None) -> dict:
    out = data_dir / f"people-{action}.json"
    cmd = [
        sys.executable,
        "-m",
        "face_pipeline.benchmarks",
        "_people-once",
        "--dsn",
        dsn,
        "--action",
        action,
        "--data-dir",
        str(data_dir),
        "--json",
        str(out),
    ]
    grouping, server = run_watched(cmd, server_pid, f"people {action}")
    result = json.loads(out.read_text())
    result["peak_rss_mib"] = max(grouping.peak_tree_mib, result["peak_rss_self_mib"])
    result["server_peak_rss_mib"] = server.peak_tree_mib if server else float("nan")
    return result


def _holds_collection(store, col: search_bench.Collection) -> bool:
    """The database holds this collection's faces in the migrations' table, with the model's index."""
    from face_pipeline.lib.store.vector_indexes import index_name

    with store.connect() as conn:
        rows = conn.execute(statement("bench_count_vectors_of_model"), {"model_id": search_bench.MODEL_ID}).fetchone()[
            0
        ]
        indexed = conn.execute(statement("relation_exists"), {"name": index_name(search_bench.MODEL_ID)}).fetchone()[0]
        some = conn.execute(statement("bench_face_exists"), {"face_id": str(col.face_ids[0])}).fetchone()[0]
    return rows == col.n and indexed and some


def _score(store, truth: dict[str, str]) -> tuple[float, float]:
    """BCubed precision and recall of the stored grouping against the true identities (strangers,
    faces without a person, count as groups of one)."""
    from face_pipeline.evaluation.metrics import bcubed

    with store.connect() as conn:
        rows = dict(conn.execute(statement("bench_face_people")).fetchall())
    clusters = {f: rows.get(f) or f"alone:{f}" for f in truth}
    return bcubed(clusters, truth)


def run_people_benchmark(
    *,
    dsn: str,
    server_pid: int | None,
    real: np.ndarray,
    n: int,
    work_dir: Path,
    maintenance_work_mem: str,
    parallel_workers: int,
    load_workers: int,
    actions: tuple[str, ...] = ("recluster", "update"),
    reuse: bool = False,
    link_efs: tuple[int, ...] = (),
    log: Callable[[str], None] = print,
) -> PeopleFigures:
    from face_pipeline.lib.models import embedder_for_model_id
    from face_pipeline.lib.store import VectorStore

    store = VectorStore(dsn)
    store.migrate()
    col = search_bench.synthesize(real, n)
    link = embedder_for_model_id(search_bench.MODEL_ID).link_threshold
    figs = PeopleFigures(
        n,
        len(np.unique(col.identity_of)),
        len(col.event_names),
        link,
        round(search_bench.identity_crowding(col, link), 2),
        len(real),
    )
    log(
        f"people: {n:,} faces of {figs.identities:,} identities in {figs.events:,} events; on average "
        f"{figs.crowding:.1f} other identities' centres within the link threshold"
    )
    if reuse and _holds_collection(store, col):
        log("  reusing the faces and index an earlier people run loaded in this database (--reuse)")
    else:
        search_bench.apply_layout(store, "single")  # the migrations' table, whatever a search run left
        load = search_bench.load_collection(
            store,
            col,
            maintenance_work_mem=maintenance_work_mem,
            parallel_workers=parallel_workers,
            load_workers=load_workers,
            log=log,
        )
        figs.load_seconds, figs.index_build_seconds = load.seconds, load.index_build_seconds
    with store.connect() as conn:
        conn.execute(statement("bench_empty_people"))
        conn.commit()
    truth = {str(f): f"id:{int(i)}" for f, i in zip(col.face_ids, col.identity_of, strict=True)}
    for run in link_ef_check(store, col, link_efs):
        figs.link_ef_runs.append(run)
        log(
            f"  links at ef_search {run.ef_search}: {run.links:,} links of {run.faces:,} faces "
            f"({run.missing:,} of ef_search {link_efs[0]}'s missing, {run.extra:,} extra) in {run.seconds:.1f} s"
        )

    for action in actions:
        if action == "update":
            write, new_truth = new_event_write(col)
            store.replace_event(write)
            truth.update(new_truth)
        before = load_average()
        r = _measured_child(dsn, action, work_dir, server_pid)
        # Without a re-cluster first the stored faces have no people: nothing to score.
        bp, br = _score(store, truth) if "recluster" in actions else (float("nan"), float("nan"))
        run = GroupingRun(
            action,
            r["faces"],
            r["links"],
            r["people"],
            round(r["seconds"], 2),
            round(r["peak_rss_mib"], 1),
            round(r["server_peak_rss_mib"], 1),
            round(bp, 4),
            round(br, 4),
            before,
            load_average(),
        )
        figs.runs.append(run)
        log(
            f"  {action}: {run.faces:,} faces, {run.links:,} links, {run.people:,} people in {run.seconds:.1f} s; "
            f"peak {run.peak_rss_mib:,.0f} MiB (server {run.server_peak_rss_mib:,.0f} MiB); "
            f"BCubed P {bp:.3f} R {br:.3f}"
        )
    store.delete_event(NEW_EVENT)
    return figs


def link_ef_check(
    store, col: search_bench.Collection, efs: tuple[int, ...], *, sample: int = LINK_SAMPLE, connections: int = 2
) -> list[LinkEfRun]:
    """The links of the same sampled faces at each ef_search, through the library's own query; the
    first ef_search is the reference (run once untimed, to warm the index). Runs after the load,
    before any grouping."""
    from face_pipeline.lib.models import embedder_for_model_id
    from face_pipeline.lib.people.people_store import PeopleStore
    from face_pipeline.lib.people.update import NEIGHBOURS, events_served_by

    if not efs:
        return []
    emb = embedder_for_model_id(search_bench.MODEL_ID)
    people = PeopleStore(store)
    events = events_served_by(store, search_bench.MODEL_ID)
    rng = np.random.default_rng(11)
    faces = [str(f) for f in rng.choice(col.face_ids, size=min(sample, col.n), replace=False)]

    def links_at(ef: int) -> set[tuple[str, str]]:
        return {
            (a, b)
            for a, b, _d in people.links(
                faces,
                model_id=search_bench.MODEL_ID,
                dim=emb.dim,
                metric=emb.metric,
                events=events,
                limit=NEIGHBOURS,
                within=emb.link_threshold,
                parallel=connections,
                ef_search=ef,
            )
        }

    # One untimed pass first: whichever ef ran first would otherwise pay for reading the index into memory.
    reference = links_at(efs[0])
    runs = []
    for ef in efs:
        t0 = time.perf_counter()
        found = links_at(ef)
        seconds = time.perf_counter() - t0
        runs.append(
            LinkEfRun(
                ef,
                len(faces),
                len(found),
                len(reference - found),
                len(found - reference),
                round(seconds, 2),
                connections,
            )
        )
    return runs


def _score_cell(x: float) -> str:
    return "– (no re-cluster before it)" if x != x else f"{x:.3f}"  # NaN: not scored


def people_markdown(figures: list[PeopleFigures], head: str) -> str:
    scales = " / ".join(f"{f.n:,}" for f in figures)
    lines = [
        f"## People at scale: grouping {scales} faces into persons",
        "",
        head,
        "- collection: the search benchmark's synthetic faces (identity centres near real dlib embeddings, "
        "~6 faces per identity), dlib's link threshold; each grouping in a child process, its peak memory "
        "and the PostgreSQL server's measured apart",
        *[
            f"- {f.n:,} faces: {f.identities:,} identities drawn from {f.real_pool:,} real embeddings; an identity's "
            f"centre has on average {f.crowding:.1f} other identities' centres within the link threshold "
            f"({f.link_threshold}), which single linkage joins once photo noise links two of their faces"
            for f in figures
        ],
        f"- full = `face-pipeline people recluster` over every face; update = one new event of "
        f"{NEW_EVENT_FACES} faces ({KNOWN_SHARE:.0%} of stored people, the rest new) grouped in, as the "
        "`people` asset does after each ingest",
        "",
        "| stored faces | grouping | faces grouped | links | people | seconds | faces/s | peak MiB (grouping) "
        "| peak MiB (PostgreSQL) | BCubed P | BCubed R | load before/after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        for r in f.runs:
            lines.append(
                f"| {f.n:,} | {'full re-cluster' if r.action == 'recluster' else 'one new event'} | {r.faces:,} "
                f"| {r.links:,} | {r.people:,} | {r.seconds:.1f} | {r.faces / max(r.seconds, 1e-9):,.0f} "
                f"| {r.peak_rss_mib:,.0f} | {r.server_peak_rss_mib:,.0f} | {_score_cell(r.bcubed_precision)} "
                f"| {_score_cell(r.bcubed_recall)} | {r.load_before} / {r.load_after} |"
            )
    ef_rows = [(f, r) for f in figures for r in f.link_ef_runs]
    if ef_rows:
        lines += [
            "",
            "Links of the same sampled faces at each `hnsw.ef_search` (the first is the reference; the "
            "library links at `people_store.LINK_EF_SEARCH`):",
            "",
            "| stored faces | ef_search | sampled faces | links | missing | extra | seconds | ms a face | connections |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for f, r in ef_rows:
            lines.append(
                f"| {f.n:,} | {r.ef_search} | {r.faces:,} | {r.links:,} | {r.missing:,} | {r.extra:,} "
                f"| {r.seconds:.1f} | {1000 * r.seconds / max(r.faces, 1):.2f} | {r.connections} |"
            )
    return "\n".join(lines) + "\n"
