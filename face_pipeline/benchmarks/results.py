"""BENCHMARKS.md: each part of a run replaces its own marked section; text outside them stays.

A section carries the machine, date, versions, load and the exact command that produced it, so
figures of different runs (the ingest, 100 k and 1 M faces) can live side by side.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path
from statistics import median

from face_pipeline.benchmarks.ingest_bench import BASELINE_STAGES, IngestFigures
from face_pipeline.benchmarks.search_bench import LoadFigures, SearchFigures

PREAMBLE = """# Benchmarks

Produced by `python -m face_pipeline.benchmarks` (see `--help`); each section below is rewritten
by the run that measures it and says how it was made. Figures are medians of several runs; a
ratio pairs each run with its baseline measured in the same run.
"""


def command_line() -> str:
    return "python -m face_pipeline.benchmarks " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def header(machine: dict, versions: dict, command: str) -> str:
    v = ", ".join(f"{k} {val}" for k, val in versions.items())
    return (
        f"- machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory']}, {machine['os']}\n"
        f"- date: {machine['date']}\n"
        f"- versions: {v}\n"
        f"- command: `{command}`\n"
    )


def replace_section(path: Path, name: str, body: str) -> None:
    """Put `body` between `<!-- bench:name -->` markers in `path`, appending the section if new."""
    text = path.read_text() if path.is_file() else PREAMBLE
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def _optional_table(title: str, header: str, rows: list[str]) -> list[str]:
    """A titled table after a blank line, or nothing at all when the part that fills it did not run."""
    if not rows:
        return []
    return ["", title, "", header, "|" + "---|" * (header.count("|") - 1), *rows]


def _fmt_s(x: float) -> str:
    return f"{x:.1f} s" if x >= 1 else f"{x * 1000:.0f} ms"


def ingest_markdown(f: IngestFigures, head: str) -> str:
    """The ingest section of BENCHMARKS.md: its tables in the order the page shows them."""
    lines = [*_ingest_summary(f, head), *_ingest_stages(f), _ingest_same_faces(f), *_ingest_variants(f)]
    return "\n".join(lines) + "\n"


def _ingest_summary(f: IngestFigures, head: str) -> list[str]:
    """Heading, how the pairs ran, and the baseline-against-pipeline table a reader looks at first."""
    b_s, p_s = f.median_of("baseline", "seconds"), f.median_of("pipeline", "seconds")
    photos, faces = f.runs[0]["pipeline"]["photos"], f.runs[0]["pipeline"]["faces"]
    workers = f.runs[0]["pipeline"]["workers"]
    ratios = f.ratios()
    return [
        f"## Ingest: WIDER FACE val groups ({photos} photos, {faces} faces found)",
        "",
        head,
        f"- pipeline: detector {f.detector or 'dlib-hog'}, embedder {f.embedder}, {workers} worker processes; "
        "baseline: the face_recognition way (dlib HOG upsample 1, 5-point landmarks, dlib ResNet, one INSERT a row)",
        f"- {len(f.runs)} pairs, order alternated; machine load (1/5/15 min) before: {f.load_before}, "
        f"after: {f.load_after}; pairs measured again because other users' processes were busy: "
        f"{f.discarded}",
        "",
        "| | baseline (face_recognition calls, 1 process) | pipeline (`ingest_event`) |",
        "|---|---|---|",
        f"| wall time, median | {b_s:.1f} s | {p_s:.1f} s |",
        f"| photos/s | {photos / b_s:.2f} | {photos / p_s:.2f} |",
        f"| faces/s | {faces / b_s:.2f} | {faces / p_s:.2f} |",
        f"| **speed-up (baseline / pipeline), median of pairs** | | **{median(ratios):.2f}x** "
        f"(pairs: {', '.join(f'{r:.2f}' for r in ratios)}) |",
        f"| CPU seconds (whole process tree), median | {f.median_of('baseline', 'cpu_seconds'):.1f} | "
        f"{f.median_of('pipeline', 'cpu_seconds'):.1f} |",
        f"| peak RSS, process tree (sum) | {f.median_of('baseline', 'peak_rss_tree_mib'):.0f} MiB | "
        f"{f.median_of('pipeline', 'peak_rss_tree_mib'):.0f} MiB |",
        f"| peak RSS, largest process | {f.median_of('baseline', 'peak_rss_largest_mib'):.0f} MiB | "
        f"{f.median_of('pipeline', 'peak_rss_largest_mib'):.0f} MiB |",
        f"| other processes' load during the run (cores busy), median | "
        f"{f.median_of('baseline', 'others_cores'):.2f} | {f.median_of('pipeline', 'others_cores'):.2f} |",
        "",
    ]


def _ingest_stages(f: IngestFigures) -> list[str]:
    """Where the time goes, stage by stage and step by step, so a speed-up can be traced to its stage."""
    lines = [
        "Time by stage, median (baseline: one process, so stage times add up to the wall time; its "
        "align is 0 because face_recognition's descriptor call cuts the aligned chip itself, inside embed. "
        "Pipeline: decode/detect/align/embed summed over the worker processes, detect including each "
        "worker's model loading, align including the crop files, embed the workers' batch of each photo's "
        "faces (plus the embedding step's wall time for faces it embedded from crop files); write is the "
        "wall time of that step):",
        "",
        "| stage | baseline | pipeline |",
        "|---|---|---|",
    ]
    for stage in BASELINE_STAGES:
        lines.append(
            f"| {stage} | {_fmt_s(f.median_stage('baseline', stage))} | {_fmt_s(f.median_stage('pipeline', stage))} |"
        )
    steps = f.runs[0]["pipeline"]["steps"]
    return [
        *lines,
        "",
        "Pipeline wall time by step, median: " + ", ".join(f"{k} {_fmt_s(f.median_step(k))}" for k in steps),
        "",
    ]


def _ingest_same_faces(f: IngestFigures) -> str:
    """Whether the two sides found the same faces and vectors: the speed-up compares like with like only then."""
    faces = f.runs[0]["pipeline"]["faces"]
    if f.identity:
        return (
            f"Same faces and vectors: {f.identity.get('same_faces', 0)} of {f.identity.get('faces_a', 0)} baseline "
            f"faces found by the pipeline at the same box ({f.identity.get('only_a', 0)} only in the baseline, "
            f"{f.identity.get('only_b', 0)} only in the pipeline); largest difference between their vectors: "
            f"{f.identity.get('max_abs_diff', float('nan')):.2g}."
        )
    return (
        f"The pipeline runs other models than the baseline: it found {faces} faces where the baseline "
        f"found {f.runs[0]['baseline']['faces']} (EVALUATION.md compares their quality)."
    )


def _ingest_variants(f: IngestFigures) -> list[str]:
    """The --variants runs (workers, batch sizes), each against a baseline of its own."""
    rows = [_variant_row(f, v) for v in f.variants]
    return _optional_table(
        "Variants (each run once beside a baseline of its own):",
        "| variant | detector + embedder | workers | pipeline | baseline | speed-up | faces | "
        "peak RSS, largest process / tree | other processes' load |",
        rows,
    )


def _variant_row(f: IngestFigures, v: dict) -> str:
    pipe = v["pipeline"]
    models = f"{v.get('detector') or f.detector} + {v.get('embedder') or f.embedder}"
    workers = f"{v['workers'] or 'cores'}{' ' + str(v['overrides']) if v['overrides'] else ''}"
    return (
        f"| {v['label']} | {models} | {workers} | {pipe['seconds']:.1f} s | {v['baseline']['seconds']:.1f} s | "
        f"{v['baseline']['seconds'] / pipe['seconds']:.2f}x | {pipe['faces']} | "
        f"{pipe['peak_rss_largest_mib']:.0f} / {pipe['peak_rss_tree_mib']:.0f} MiB | "
        f"{max(pipe['others_cores'], v['baseline']['others_cores']):.2f} |"
    )


def headline_markdown(f: IngestFigures) -> str:
    """The line at the top of BENCHMARKS.md: the shipped defaults' ingest speed-up, with where it comes from."""
    ratios = ", ".join(f"{r:.2f}" for r in f.ratios())
    return (
        f"ingest speed-up (shipped defaults): {f.median_ratio():.2f}x\n\n"
        f"(median of {len(f.runs)} pairs against the face_recognition-style baseline in the same run: {ratios}; "
        f"{f.detector} + {f.embedder}; {f.median_of('pipeline', 'seconds'):.1f} s against "
        f'{f.median_of("baseline", "seconds"):.1f} s on the WIDER group photos, section "Ingest" below)\n'
    )


def search_markdown(f: SearchFigures, head: str, strategies: dict[str, str]) -> str:
    """One search section of BENCHMARKS.md: its tables in the order the page shows them."""
    lines = [
        *_search_intro(f, head),
        *_search_load(f.load),
        *_search_lookups(f, strategies),
        *_search_sweep(f),
        *_search_memory(f),
    ]
    return "\n".join(lines) + "\n"


def _search_intro(f: SearchFigures, head: str) -> list[str]:
    """Heading and what was searched: the collection, the queries and how busy the machine was."""
    return [
        f"## Search at scale: {f.n:,} faces"
        + (
            ""
            if f.layout == "single"
            else f", face_vectors partitioned {f.layout.replace('-', ' ')}"
            + (f" ({f.partitions} partitions)" if f.partitions > 1 else "")
        ),
        "",
        head,
        f"- {f.n:,} faces of {f.identities:,} identities in {f.events:,} events; vectors from {f.real_vectors:,} "
        f"real dlib embeddings of the dev data (median distance to the nearest other face: real "
        f"{f.nn_distance_real:.3f}, synthetic {f.nn_distance_synthetic:.3f})",
        f"- {f.queries} queries x {f.rounds} rounds, each a new photo of a stored person; one event = an event "
        f"where that person is; small set = {f.small_set} events, large set = {f.large_set} events "
        "(both include that event)",
        f"- machine load (1/5/15 min) before: {f.load_before}, after: {f.load_after}; other processes kept "
        f"{f.others_cores:.2f} cores busy during the lookups",
        "",
    ]


def _search_load(ld: LoadFigures) -> list[str]:
    """The load table: write rates against the bare-COPY reference, the HNSW build and the index itself."""
    reused = ["| load | reused from an earlier run (`--reuse`): figures of that run |"] if ld.reused else []
    return [
        "Load (through `VectorStore.replace_event`, as an ingest writes: photos, faces and vectors of each "
        "event of ~1,000 faces in one transaction; a new event by plain COPY, binary for faces and vectors; "
        "each writer keeps its connection; the events' rows are prepared before the clock starts):",
        "",
        "| | |",
        "|---|---|",
        *reused,
        f"| bulk load, HNSW index dropped, {ld.load_workers} writer processes | {ld.rows:,} faces in "
        f"{ld.seconds:.1f} s = **{ld.rows_per_s:,.0f} faces/s**; "
        + (
            f"**{ld.all_rows_per_s:,.0f} rows/s** counting every row written ({ld.rows:,} faces, {ld.rows:,} "
            f"face_vectors, {ld.photo_rows:,} photos); {ld.rows_per_s * 2:,.0f} rows/s of faces + face_vectors |"
            if ld.all_rows_per_s
            else f"{ld.rows_per_s * 2:,.0f} rows/s of faces + face_vectors |"
        ),
        f"| physical reference: the same vectors by binary COPY into a bare temporary table (no keys, "
        f"indexes, WAL), 1 writer | {ld.bare_copy_rows_per_s:,.0f} rows/s |",
        f"| HNSW build (`maintenance_work_mem` {ld.maintenance_work_mem}, "
        f"{ld.parallel_workers} parallel maintenance worker(s)) | **{ld.index_build_seconds:.1f} s**, "
        f"index {ld.index_bytes / 2**20:,.0f} MiB; face_vectors with its indexes {ld.table_bytes / 2**20:,.0f} MiB |",
        f"| one more event's write with the index in place, 1 writer | {ld.incremental_rows:,} faces at "
        f"{ld.incremental_rows_per_s:,.0f} faces/s |",
        "",
        f"Index: `{ld.index_params}`"
        + ("" if "ef_construction" in ld.index_params else " (pgvector's defaults m = 16, ef_construction = 64)"),
        "",
    ]


def _search_lookups(f: SearchFigures, strategies: dict[str, str]) -> list[str]:
    """The lookup table: latency and recall per query shape, beside exact numpy search in the same run."""
    lines = [
        "Lookups through `VectorStore.search_faces` (top-10, one process, connection kept), against exact "
        "search over the same vectors in memory with numpy in the same run:",
        "",
        "| query | strategy | rows in scope (median) | p50 | p95 | recall@10 mean | worst-query recall | numpy exact p50 | "
        "p50 ratio pgvector / numpy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in f.shapes:
        lines.append(
            f"| {s.shape.replace('_', ' ')} | {strategies.get(s.shape, '')} | {s.rows_searched_median:,.0f} | "
            f"**{s.p50_ms:.1f} ms** | **{s.p95_ms:.1f} ms** | {s.recall_mean:.4f} | **{s.recall_min:.2f}** | "
            f"{s.numpy_p50_ms:.2f} ms | {s.ratio_vs_numpy:.2f} |"
        )
    return lines


def _search_sweep(f: SearchFigures) -> list[str]:
    """The hnsw.ef_search sweep (when run): the latency a higher recall costs."""
    rows = [
        f"| {w['ef_search']} | {w['p50_ms']:.1f} ms | {w['p95_ms']:.1f} ms | "
        f"{w['recall_mean']:.4f} | {w['recall_min']:.2f} |"
        for w in f.sweep
    ]
    return _optional_table(
        "Global top-10 against `hnsw.ef_search` (one round each, same queries):",
        "| ef_search | p50 | p95 | recall@10 mean | worst-query recall |",
        rows,
    )


def _search_memory(f: SearchFigures) -> list[str]:
    """Peak memory of the lookup process, the server and the numpy side, for sizing a machine."""
    srv = f"{f.server_peak_rss_mib:,.0f} MiB" if f.server_peak_rss_mib else "not measured"
    return [
        "",
        f"Memory: lookup process peak RSS **{f.lookup_peak_rss_mib:,.0f} MiB**; PostgreSQL processes during "
        f"the lookups, sum of RSS (shared buffers counted in each) {srv}; the benchmark process holding the "
        f"vectors for numpy {f.numpy_process_peak_rss_mib:,.0f} MiB.",
    ]
