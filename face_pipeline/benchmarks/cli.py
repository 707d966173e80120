"""Command line of the benchmarks (`python -m face_pipeline.benchmarks`, or `face-pipeline bench`).

    python -m face_pipeline.benchmarks                 # ingest + search at 100 k faces
    python -m face_pipeline.benchmarks --part search --million
    python -m face_pipeline.benchmarks --part ingest --runs 5
    python -m face_pipeline.benchmarks --part people --people-scales 100000,1000000
    python -m face_pipeline.benchmarks --part participant   # the participant page, 1 and 20 users
    python -m face_pipeline.benchmarks --part passes        # which photos/faces need the turned/flip passes
    python -m face_pipeline.benchmarks --part variants      # float / int8 / fp16 models: speed, distance, memory

Everything it writes lives in --data-dir (default: a folder under the system temp dir), with its
own embedded PostgreSQL: it never touches the project's data. Results go to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _ingest_once(args: argparse.Namespace) -> int:
    from face_pipeline.benchmarks import ingest_bench

    vec = Path(args.vectors_out) if args.vectors_out else None
    if args.mode == "baseline":
        flip = args.embedder == "dlib-resnet-v1-flip"  # the baseline's equivalent of the dlib variants only
        result = ingest_bench.run_baseline(
            Path(args.photos_root), args.dsn, vec, "dlib-resnet-v1-flip" if flip else "dlib-resnet-v1"
        )
    else:
        result = ingest_bench.run_pipeline(
            Path(args.photos_root),
            Path(args.data_dir),
            args.dsn,
            args.workers,
            vec,
            json.loads(args.overrides),
            args.detector,
            args.embedder,
        )
    Path(args.json).write_text(json.dumps(result))
    return 0


def _lookup_once(args: argparse.Namespace) -> int:
    from face_pipeline.benchmarks import search_bench

    queries = search_bench.Queries.load(Path(args.queries))
    result = search_bench.run_lookups(
        args.dsn,
        queries,
        rounds=args.rounds,
        warmup=args.warmup,
        shapes=tuple(args.shapes.split(",")),
        settings_overrides=json.loads(args.overrides),
    )
    Path(args.json).write_text(json.dumps(result))
    return 0


REPO = Path(__file__).resolve().parents[2]


def _people_once(args: argparse.Namespace) -> int:
    from face_pipeline.benchmarks import people_bench

    result = people_bench.group_once(args.dsn, args.action, Path(args.data_dir))
    Path(args.json).write_text(json.dumps(result))
    return 0


def _default_data_dir() -> Path:
    import tempfile

    return Path(tempfile.gettempdir()) / "face_pipeline_bench"


def _default_datasets() -> Path:
    import os

    shared = os.environ.get("FACE_PIPELINE_SHARED")
    return (Path(shared) if shared else REPO.parent / "shared") / "datasets"


@dataclass
class _Bench:
    """What every part of one run shares: its folders, its own database and the sections' header."""

    data_dir: Path
    datasets: Path
    output: Path
    server: Any  # the embedded PostgreSQL (pgserver), whose pid the search and people parts watch
    dsn: str
    head: str
    log: Callable[[str], None] = print


def run(args: argparse.Namespace) -> int:
    """One benchmark run: its database and header, then each part asked for, each writing its own section."""
    bench = _start(args)
    parts = ["ingest", "search", "people"] if args.part == "all" else [args.part]
    for part, measure in (
        ("ingest", _bench_ingest),
        ("search", _bench_search),
        ("people", _bench_people),
        ("participant", _bench_participant),
        ("passes", _bench_passes),
        ("variants", _bench_variants),
    ):
        if part in parts:
            measure(args, bench)
    bench.log(f"results written to {bench.output}")
    return 0


def _checked_data_dir(args: argparse.Namespace) -> Path:
    """Refuse a bad size or a scratch folder inside the repository before anything starts."""
    if not re.fullmatch(r"\d+\s*(kB|MB|GB)", args.maintenance_work_mem):
        raise SystemExit("--maintenance-work-mem: give a size such as 512MB or 2GB")
    data_dir = Path(args.data_dir).resolve()
    if data_dir == REPO or REPO in data_dir.parents:
        raise SystemExit(f"--data-dir {data_dir} is inside the repository; use a folder outside it")
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir


def _start(args: argparse.Namespace) -> _Bench:
    """Start the run's own PostgreSQL and write down the machine and versions every section carries."""
    from face_pipeline.benchmarks import environment, results
    from face_pipeline.lib.store import VectorStore, embedded_postgres

    data_dir = _checked_data_dir(args)
    datasets = Path(args.datasets)
    output = Path(args.output)
    command = results.command_line()
    server = embedded_postgres.start(data_dir / "pg")
    dsn = embedded_postgres.app_dsn(server)
    store = VectorStore(dsn)
    store.migrate()
    with store.connect() as conn:
        versions = {**environment.package_versions(), **environment.server_versions(conn)}
    machine = environment.machine()
    head = results.header(machine, versions, command)
    return _Bench(data_dir, datasets, output, server, dsn, head)


def _bench_ingest(args: argparse.Namespace, bench: _Bench) -> None:
    """The ingest part: baseline/pipeline pairs on the WIDER groups (and the --variants)."""
    from face_pipeline.benchmarks import ingest_bench, results
    from face_pipeline.lib.settings import Settings

    shipped = Settings.from_env()
    embedder, detector = args.embedder or shipped.embedder, args.detector or shipped.detector
    wider = bench.datasets / "wider_face_val_groups"
    bench.log(f"ingest: {args.runs} pairs on {wider} ({detector} + {embedder})")
    # The shipped pair against its neighbours, each with one choice of issue 24 undone: the
    # previous defaults, the turned passes on every photo, float FaceNet; and the opt-in without
    # the flip pass (faster, lower LFW precision: EVALUATION.md).
    variants = (
        [
            ("previous defaults", 0, {}, "retinaface-mnet025-rot3", "facenet-v1-flip"),
            ("turned passes on every photo", 0, {}, "retinaface-mnet025-rot3", embedder),
            ("float FaceNet", 0, {}, detector, "facenet-v1-flip"),
            ("no flip pass (opt-in)", 0, {}, detector, "facenet-v1-int8"),
        ]
        if args.variants
        else []
    )
    figs = ingest_bench.run_ingest_benchmark(
        wider=wider,
        work_dir=bench.data_dir / "ingest",
        dsn=bench.dsn,
        runs=args.runs,
        workers=args.workers,
        embedder=embedder,
        detector=detector,
        limit=args.photos,
        quiet_wait_s=args.quiet_wait,
        max_others=args.max_others,
        retries=args.retries,
        variants=variants,
        log=bench.log,
    )
    (bench.data_dir / "ingest-figures.json").write_text(json.dumps(figs.__dict__, default=str, indent=1))
    name = "ingest" if not args.photos else f"ingest-{args.photos}"
    results.replace_section(bench.output, name, results.ingest_markdown(figs, bench.head))
    if (detector, embedder) == (shipped.detector, shipped.embedder) and not args.photos:
        results.replace_section(bench.output, "headline", results.headline_markdown(figs))
    bench.log(f"ingest: {figs.median_ratio():.2f}x the baseline (median of {len(figs.runs)} pairs)")


def _bench_search(args: argparse.Namespace, bench: _Bench) -> None:
    """The search part at one scale and table layout."""
    from face_pipeline.benchmarks import results, search_bench
    from face_pipeline.lib.store import vector_store as store_module

    n = 1_000_000 if args.million else args.scale
    bench.log(f"search: {n:,} faces")
    real = search_bench.collect_real_embeddings(
        bench.datasets, bench.data_dir, bench.dsn, log=bench.log, workers=args.workers
    )
    section = f"search-{n}" if args.layout == "single" else f"search-{n}-{args.layout}"
    scale_dir = bench.data_dir / section
    scale_dir.mkdir(parents=True, exist_ok=True)
    figs = search_bench.run_search_benchmark(
        dsn=bench.dsn,
        server_pid=bench.server.get_pid(),
        real=real,
        n=n,
        work_dir=scale_dir,
        n_queries=args.queries,
        rounds=args.rounds,
        small_set=args.small_set,
        large_set_share=args.large_set_share,
        maintenance_work_mem=args.maintenance_work_mem,
        parallel_workers=args.parallel_workers,
        load_workers=args.load_workers,
        sweep_ef=[int(x) for x in args.sweep_ef.split(",") if x],
        reuse=args.reuse,
        layout=args.layout,
        partitions=args.partitions,
        log=bench.log,
    )
    (scale_dir / "figures.json").write_text(json.dumps(figs.to_json(), indent=1))
    strategies = search_bench.strategies(figs, store_module)
    results.replace_section(bench.output, section, results.search_markdown(figs, bench.head, strategies))


def _bench_people(args: argparse.Namespace, bench: _Bench) -> None:
    """The people part, one section per scale, so a run of one scale keeps the others' figures."""
    from face_pipeline.benchmarks import people_bench, results, search_bench

    real = search_bench.collect_real_embeddings(
        bench.datasets, bench.data_dir, bench.dsn, log=bench.log, workers=args.workers
    )
    for n in [int(x) for x in args.people_scales.split(",")]:
        scale_dir = bench.data_dir / f"people-{n}"
        scale_dir.mkdir(parents=True, exist_ok=True)
        figs = people_bench.run_people_benchmark(
            dsn=bench.dsn,
            server_pid=bench.server.get_pid(),
            real=real,
            n=n,
            work_dir=scale_dir,
            maintenance_work_mem=args.maintenance_work_mem,
            parallel_workers=args.parallel_workers,
            load_workers=args.load_workers,
            actions=tuple(args.people_actions.split(",")),
            reuse=args.reuse,
            link_efs=tuple(int(x) for x in args.people_link_ef.split(",") if x.strip()),
            log=bench.log,
        )
        (scale_dir / "figures.json").write_text(json.dumps(figs.to_json(), indent=1))
        results.replace_section(bench.output, f"people-{n}", people_bench.people_markdown([figs], bench.head))


def _bench_participant(args: argparse.Namespace, bench: _Bench) -> None:
    """The participant page part: one user alone, then many at once, against `face-pipeline find`."""
    from face_pipeline.benchmarks import participant_bench, results

    figs = participant_bench.run_participant_benchmark(
        data_dir=bench.data_dir,
        dsn=bench.dsn,
        photos=args.participant_photos,
        alone=args.participant_alone,
        concurrent_users=args.participant_users,
        per_user=args.participant_per_user,
        baseline_runs=args.participant_baseline_runs,
        quiet_wait_s=args.quiet_wait,
        log=bench.log,
    )
    results.replace_section(bench.output, "participant", participant_bench.participant_markdown(figs, bench.head))


def _bench_passes(args: argparse.Namespace, bench: _Bench) -> None:
    """Each turned-pass and flip rule: its cost and its effect on quality (WIDER, demo, LFW)."""
    from face_pipeline.benchmarks import passes_bench, results
    from face_pipeline.lib.bundled_files import demo_dir

    figs = passes_bench.run_passes_benchmark(
        datasets=bench.datasets, demo=demo_dir(), dsn=bench.dsn, workers=args.workers, log=bench.log
    )
    results.replace_section(bench.output, "passes", passes_bench.passes_markdown(figs, bench.head))


def _bench_variants(args: argparse.Namespace, bench: _Bench) -> None:
    """float/int8/fp16 copies of the shipped models: CPU time, distance to the float model, memory."""
    from face_pipeline.benchmarks import results, variants_bench

    figs = variants_bench.run_variants_benchmark(log=bench.log)
    results.replace_section(bench.output, "variants", variants_bench.variants_markdown(figs, bench.head))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m face_pipeline.benchmarks",
        description="Ingest and search benchmarks; results go to BENCHMARKS.md.",
    )
    p.add_argument(
        "--part", choices=["all", "ingest", "search", "people", "participant", "passes", "variants"], default="all"
    )
    p.add_argument(
        "--data-dir",
        default=str(_default_data_dir()),
        help="scratch folder with the benchmark's own PostgreSQL (default: %(default)s)",
    )
    p.add_argument("--datasets", default=str(_default_datasets()), help="shared/datasets (default: %(default)s)")
    p.add_argument("--output", default=str(REPO / "BENCHMARKS.md"))
    p.add_argument("--workers", type=int, default=0, help="pipeline worker processes (0 = one per core)")
    p.add_argument("--runs", type=int, default=3, help="ingest: baseline/pipeline pairs (default 3)")
    p.add_argument("--photos", type=int, default=None, help="ingest: only the first N WIDER photos")
    p.add_argument("--embedder", default=None, help="ingest: the pipeline's embedder (default: the shipped one)")
    p.add_argument("--detector", default=None, help="ingest: the pipeline's detector (default: the shipped one)")
    p.add_argument(
        "--variants",
        action="store_true",
        help="ingest: also the previous defaults and the shipped pair with one choice undone, once each",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=300.0,
        help="seconds to wait, before each pair, for other processes to leave the cores idle",
    )
    p.add_argument(
        "--max-others",
        type=float,
        default=0.3,
        help="ingest: measure a pair again when other processes kept more cores busy than this",
    )
    p.add_argument("--retries", type=int, default=3, help="ingest: at most this many pairs measured again")
    p.add_argument("--scale", type=int, default=100_000, help="search: stored faces (default 100000)")
    p.add_argument("--million", action="store_true", help="search: 1,000,000 faces (long: HNSW build)")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3, help="search: rounds over the queries (medians over rounds)")
    p.add_argument("--small-set", type=int, default=10, help="search: events in the small event set")
    p.add_argument("--large-set-share", type=float, default=0.25, help="search: share of events in the large set")
    p.add_argument("--maintenance-work-mem", default="2GB")
    p.add_argument("--parallel-workers", type=int, default=1, help="max_parallel_maintenance_workers for HNSW")
    p.add_argument("--load-workers", type=int, default=2, help="search: processes writing events side by side")
    p.add_argument("--sweep-ef", default="40,64,100,200", help="search: hnsw.ef_search values to sweep")
    p.add_argument("--reuse", action="store_true", help="search, people: keep the collection loaded by an earlier run")
    p.add_argument(
        "--layout",
        choices=["single", "by-model", "by-event-hash"],
        default="single",
        help="search: face_vectors as the migrations make it, or partitioned by model or by event hash",
    )
    p.add_argument("--partitions", type=int, default=8, help="search: partitions of --layout by-event-hash")
    p.add_argument("--participant-photos", type=int, default=2000, help="participant: photos in the event")
    p.add_argument("--participant-alone", type=int, default=30, help="participant: lookups of the one user")
    p.add_argument("--participant-users", type=int, default=20, help="participant: users at once")
    p.add_argument("--participant-per-user", type=int, default=5, help="participant: lookups per concurrent user")
    p.add_argument(
        "--participant-baseline-runs", type=int, default=3, help="participant: `face-pipeline find` runs, the baseline"
    )
    p.add_argument(
        "--people-scales", default="100000,1000000", help="people: stored faces for each run (default: %(default)s)"
    )
    p.add_argument(
        "--people-link-ef",
        default="200,64",
        help="people: before grouping, search a sample's links at these hnsw.ef_search values, the "
        "first as reference ('' skips it; default: %(default)s)",
    )
    p.add_argument(
        "--people-actions",
        default="recluster,update",
        choices=["recluster,update", "update"],
        help="people: what to measure; 'update' alone skips the full re-cluster (one new event is "
        "grouped against faces that have no people yet: time only, not scored)",
    )
    return p


def build_internal_parser() -> argparse.ArgumentParser:
    """The measured child processes the benchmark starts (not for people)."""
    p = argparse.ArgumentParser(prog="python -m face_pipeline.benchmarks")
    sub = p.add_subparsers(dest="command", required=True)
    once = sub.add_parser("_ingest-once", help=argparse.SUPPRESS)
    once.add_argument("--mode", choices=["baseline", "pipeline"], required=True)
    once.add_argument("--photos-root", required=True)
    once.add_argument("--data-dir", required=True)
    once.add_argument("--dsn", required=True)
    once.add_argument("--workers", type=int, default=0)
    once.add_argument("--embedder", default=None)
    once.add_argument("--detector", default=None)
    once.add_argument("--overrides", default="{}")
    once.add_argument("--vectors-out", default=None)
    once.add_argument("--json", required=True)
    look = sub.add_parser("_lookup-once", help=argparse.SUPPRESS)
    look.add_argument("--dsn", required=True)
    look.add_argument("--queries", required=True)
    look.add_argument("--json", required=True)
    look.add_argument("--rounds", type=int, default=1)
    look.add_argument("--warmup", type=int, default=10)
    look.add_argument("--shapes", default="global")
    look.add_argument("--overrides", default="{}")
    grp = sub.add_parser("_people-once", help=argparse.SUPPRESS)
    grp.add_argument("--dsn", required=True)
    grp.add_argument("--action", choices=["recluster", "update"], required=True)
    grp.add_argument("--data-dir", required=True)
    grp.add_argument("--json", required=True)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0].startswith("_"):
        args = build_internal_parser().parse_args(argv)
    else:
        args = build_parser().parse_args(argv)
        args.command = None
    if args.command == "_ingest-once":
        return _ingest_once(args)
    if args.command == "_lookup-once":
        return _lookup_once(args)
    if args.command == "_people-once":
        return _people_once(args)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
