"""Ingest throughput: the library's ingest against the face_recognition way of calling the same models.

Baseline: what a script written with the face_recognition library does, with the same dlib models
and the same calls that library makes (it is not installed here: it needs dlib compiled from
source). One process, one photo after another: decode with PIL, HOG detection upsampled once,
5-point landmarks, one `compute_face_descriptor(image, landmarks)` call per face (dlib aligns the
150 px chip inside that call), and one INSERT per row.

Pipeline: `scan_event -> detect_faces -> embed_faces -> build_event_write -> VectorStore.replace_event`
exactly as the Dagster assets and the CLI call them, on a fresh data folder (nothing reused).

Each measured run is a fresh Python process (models are loaded inside the timed region in both,
which is why the runners import the libraries inside their functions),
watched from outside for its peak memory; baseline and pipeline alternate within a pair so that a
change of machine load hits both.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

import numpy as np

from face_pipeline.benchmarks.environment import (
    TreeWatcher,
    load_average,
    own_peak_rss_mib,
    wait_for_quiet,
)

EVENT = "wider-val"
BASELINE_EVENT = "wider-val-baseline"
BASELINE_STAGES = ("decode", "detect", "align", "embed", "write")


# ---- the photos --------------------------------------------------------------------------------


def prepare_photos(source: Path, photos_root: Path, limit: int | None = None) -> Path:
    """The WIDER photos (the first `limit`, sorted) as one event folder of the benchmark's own
    photos root, outside the repository.

    Files are hard-linked when the file system allows it (no copy of the bytes), else copied; the
    event folder must be a real folder because the scanner never follows links out of an event.
    """
    images = source / "WIDER_val" / "images"
    if not images.is_dir():
        raise FileNotFoundError(f"{images} not found: point --wider at shared/datasets/wider_face_val_groups")
    event_dir = photos_root / EVENT
    for src in sorted(images.rglob("*.jpg"))[:limit]:
        dest = event_dir / src.relative_to(images)
        if dest.exists():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dest)
        except OSError:
            shutil.copy2(src, dest)
    return event_dir


# ---- one run, inside a child process -----------------------------------------------------------


def run_baseline(photos_root: Path, dsn: str, vectors_out: Path | None, embedder: str = "dlib-resnet-v1") -> dict:
    """face_recognition's calling pattern with the project's model files, timed stage by stage (the flip
    variant, `dlib-resnet-v1-flip`, averages each descriptor with its mirrored chip's, as that embedder does)."""
    if embedder not in ("dlib-resnet-v1", "dlib-resnet-v1-flip"):
        raise ValueError(f"the baseline calls dlib's ResNet; it has no equivalent of {embedder}")
    t_start = time.perf_counter()
    import dlib
    import psycopg
    from pgvector.psycopg import register_vector
    from PIL import Image

    from face_pipeline.lib.photos.files import scan_event_folder
    from face_pipeline.lib.store.statements import statement

    detector, pose_predictor_5, encoder = _baseline_models(dlib)
    files, _ = scan_event_folder(photos_root / EVENT)
    t_models = time.perf_counter() - t_start

    stages = dict.fromkeys(BASELINE_STAGES, 0.0)
    keys: list[str] = []
    vectors: list[np.ndarray] = []
    faces_total = 0
    with psycopg.connect(dsn) as conn:
        register_vector(conn)
        for photo in files:
            t0 = time.perf_counter()
            image = np.array(Image.open(photo.path).convert("RGB"))  # face_recognition.load_image_file
            h, w = image.shape[:2]
            t1 = time.perf_counter()
            # face_recognition.face_locations(image) -> _raw_face_locations(image, 1, "hog"), trimmed to the image
            rects = [
                dlib.rectangle(max(r.left(), 0), max(r.top(), 0), min(r.right(), w), min(r.bottom(), h))
                for r in detector(image, 1)
            ]
            # face_recognition.face_encodings(image, locations, model="small"): 5-point landmarks ...
            shapes = [pose_predictor_5(image, r) for r in rects]
            t2 = time.perf_counter()
            # ... then one descriptor per face; dlib cuts the aligned 150 px chip inside this call.
            encodings = [np.array(encoder.compute_face_descriptor(image, s, 1)) for s in shapes]
            if embedder == "dlib-resnet-v1-flip":
                encodings = _with_flipped_chips(dlib, encoder, image, shapes, encodings)
            t3 = time.perf_counter()
            _write_baseline_photo(conn, statement, photo, (w, h), rects, shapes, encodings, keys, vectors)
            conn.commit()
            t4 = time.perf_counter()
            stages["decode"] += t1 - t0
            stages["detect"] += t2 - t1
            stages["embed"] += t3 - t2
            stages["write"] += t4 - t3
            faces_total += len(rects)
    seconds = time.perf_counter() - t_start
    if vectors_out is not None:
        _save_vectors(vectors_out, keys, vectors)
    return {
        "mode": "baseline",
        "photos": len(files),
        "faces": faces_total,
        "seconds": seconds,
        "seconds_models": t_models,
        "stages": stages,
        "steps": {},
        "workers": 1,
        "peak_rss_self_mib": own_peak_rss_mib(),
    }


def _baseline_models(dlib) -> tuple:
    """HOG detector, 5-point landmarks and ResNet descriptor, from the project's packaged model files."""
    from face_pipeline.lib.models.detectors.dlib_landmarks import SHAPE5
    from face_pipeline.lib.models.embedders.dlib_resnet import WEIGHTS as RESNET
    from face_pipeline.lib.models.package_files import packaged_path

    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(str(packaged_path(SHAPE5, "baseline"))),
        dlib.face_recognition_model_v1(str(packaged_path(RESNET, "baseline"))),
    )


def _with_flipped_chips(dlib, encoder, image: np.ndarray, shapes: list, encodings: list) -> list[np.ndarray]:
    """dlib-resnet-v1-flip: each descriptor averaged with its mirrored chip's, as that embedder does."""
    chips = [np.asarray(dlib.get_face_chip(image, s, size=150, padding=0.25)) for s in shapes]
    return [
        (
            (e.astype(np.float64) + np.array(encoder.compute_face_descriptor(np.ascontiguousarray(c[:, ::-1])))) / 2.0
        ).astype(np.float32)
        for e, c in zip(encodings, chips, strict=True)
    ]


def _write_baseline_photo(
    conn,
    statement,
    photo,
    size: tuple[int, int],
    rects: list,
    shapes: list,
    encodings: list,
    keys: list[str],
    vectors: list[np.ndarray],
) -> None:
    """One photo's rows, one INSERT per row as the script would write them (committed by the caller)."""
    w, h = size
    conn.execute(
        statement("baseline_insert_photo"),
        {
            "event": BASELINE_EVENT,
            "photo_id": photo.relpath,
            "path": photo.relpath,
            "size_bytes": photo.size_bytes,
            "width": w,
            "height": h,
            "detector_model": "dlib-hog-up1",
            "face_count": len(rects),
        },
    )
    for i, (rect, shape, enc) in enumerate(zip(rects, shapes, encodings, strict=True)):
        face_id = f"{BASELINE_EVENT}/{photo.relpath}/{i}"
        landmarks = [float(v) for p in shape.parts() for v in (p.x, p.y)]
        conn.execute(
            statement("baseline_insert_face"),
            {
                "face_id": face_id,
                "event": BASELINE_EVENT,
                "photo_id": photo.relpath,
                "face_index": i,
                "detector_model": "dlib-hog-up1",
                "left": rect.left(),
                "top": rect.top(),
                "right": rect.right(),
                "bottom": rect.bottom(),
                "score": 0.0,
                "landmarks": landmarks,
                "crop_path": "",
            },
        )
        conn.execute(
            statement("baseline_insert_vector"),
            {
                "face_id": face_id,
                "model_id": "dlib-resnet-v1",
                "event": BASELINE_EVENT,
                "embedding": enc.astype(np.float32),
            },
        )
        keys.append(_face_key(photo.relpath, (rect.left(), rect.top(), rect.right(), rect.bottom())))
        vectors.append(enc.astype(np.float32))


def run_pipeline(
    photos_root: Path,
    data_dir: Path,
    dsn: str,
    workers: int,
    vectors_out: Path | None,
    overrides: dict | None = None,
    detector: str | None = None,
    embedder: str | None = None,
) -> dict:
    """`ingest_event` (scan, detect, embed, write: the calls the assets make) on a fresh data folder,
    with the shipped models unless `detector` / `embedder` say otherwise."""
    t_start = time.perf_counter()
    from face_pipeline.lib import ingest
    from face_pipeline.lib.settings import Settings
    from face_pipeline.lib.store import VectorStore

    for key, value in (overrides or {}).items():
        setattr(ingest, key, value)  # e.g. EMBED_CHUNKS_PER_WORKER, to compare settings
    settings = Settings.from_env(
        photos_root=photos_root, data_dir=data_dir, dsn=dsn, workers=workers, detector=detector, embedder=embedder
    )
    report = ingest.ingest_event(settings, VectorStore(dsn), EVENT)
    seconds = time.perf_counter() - t_start
    faces, embeddings = report.faces, report.embeddings
    if vectors_out is not None:
        relpath = {p.photo_id: p.relpath for p in report.manifest.photos}
        by_id = dict(zip(embeddings.face_ids, embeddings.vectors, strict=True))
        _save_vectors(
            vectors_out,
            [_face_key(relpath[f.photo_id], tuple(f.box)) for f in faces.faces],
            [by_id[f.face_id] for f in faces.faces],
        )
    stages = {
        # decode/detect/align/embed: summed over the worker processes (CPU-side seconds, comparable
        # with the baseline's; the workers embed each photo's faces right after detecting them), plus
        # the embedding step's wall time for any face it embedded from crop files; write: wall time.
        "decode": faces.seconds_decode,
        "detect": faces.seconds_detect,
        "align": faces.seconds_align,
        "embed": faces.seconds_embed + embeddings.seconds_embed,
        "write": report.seconds.get("write", 0.0),
    }
    return {
        "mode": "pipeline",
        "photos": len(report.manifest.photos),
        "faces": len(faces.faces),
        "seconds": seconds,
        "stages": stages,
        "steps": dict(report.seconds),
        "workers": settings.worker_count(),
        "embedder": embeddings.model_id,
        "detector": faces.detector_model,
        "overrides": overrides or {},
        "peak_rss_self_mib": own_peak_rss_mib(),
    }


def _face_key(relpath: str, box: tuple[int, ...]) -> str:
    return f"{relpath}|{','.join(str(int(v)) for v in box)}"


def _save_vectors(path: Path, keys: list[str], vectors: list[np.ndarray]) -> None:
    arr = np.asarray(vectors, dtype=np.float32).reshape(len(keys), -1)
    np.savez(path, keys=np.array(keys, dtype=str), vectors=arr)


def compare_vectors(a: Path, b: Path) -> dict:
    """Are two runs' faces the same faces (photo + box) with the same vectors?"""
    with np.load(a) as za, np.load(b) as zb:
        va = dict(zip(za["keys"].tolist(), za["vectors"], strict=True))
        vb = dict(zip(zb["keys"].tolist(), zb["vectors"], strict=True))
    common = sorted(set(va) & set(vb))
    diff = max((float(np.abs(va[k] - vb[k]).max()) for k in common), default=0.0)
    return {
        "faces_a": len(va),
        "faces_b": len(vb),
        "same_faces": len(common),
        "only_a": len(set(va) - set(vb)),
        "only_b": len(set(vb) - set(va)),
        "max_abs_diff": diff,
    }


# ---- the parent: paired runs in child processes ------------------------------------------------


@dataclass
class IngestFigures:
    runs: list[dict] = field(default_factory=list)  # one {"baseline": {...}, "pipeline": {...}} per pair
    variants: list[dict] = field(default_factory=list)  # {"label", "pipeline": {...}, "baseline": {...}}
    identity: dict = field(default_factory=dict)
    load_before: str = ""
    load_after: str = ""
    workers: int = 0
    embedder: str = ""
    detector: str = ""
    photos_limit: int | None = None
    discarded: int = 0  # pairs measured while other processes were busy, measured again
    discarded_pairs: list[dict] = field(default_factory=list)

    def median_of(self, mode: str, key: str) -> float:
        return median(r[mode][key] for r in self.runs)

    def ratios(self) -> list[float]:
        return [r["baseline"]["seconds"] / r["pipeline"]["seconds"] for r in self.runs]

    def median_ratio(self) -> float:
        return median(self.ratios())

    def median_stage(self, mode: str, stage: str) -> float:
        return median(r[mode]["stages"].get(stage, 0.0) for r in self.runs)

    def median_step(self, step: str) -> float:
        return median(r["pipeline"]["steps"].get(step, 0.0) for r in self.runs)


def _child(args: list[str], json_path: Path) -> dict:
    cmd = [sys.executable, "-m", "face_pipeline.benchmarks", *args, "--json", str(json_path)]
    proc = subprocess.Popen(cmd)
    with TreeWatcher(proc.pid) as watcher:
        rc = proc.wait()
    if rc != 0:
        raise RuntimeError(f"benchmark child failed ({rc}): {' '.join(cmd)}")
    result = json.loads(json_path.read_text())
    u = watcher.usage
    result.update(
        peak_rss_tree_mib=u.peak_tree_mib,
        peak_rss_largest_mib=u.peak_largest_mib,
        cpu_seconds=u.cpu_seconds,
        others_cores=u.others_cores,
    )
    return result


def _clear_events(dsn: str) -> None:
    from face_pipeline.lib.store import VectorStore

    store = VectorStore(dsn)
    for event in (EVENT, BASELINE_EVENT):
        store.delete_event(event)


def _one_run(
    mode: str,
    work_dir: Path,
    photos_root: Path,
    dsn: str,
    *,
    workers: int,
    embedder: str,
    detector: str,
    overrides: dict | None = None,
    log=print,
    label: str = "",
) -> dict:
    _clear_events(dsn)
    run_dir = work_dir / f"run-{mode}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    args = [
        "_ingest-once",
        "--mode",
        mode,
        "--photos-root",
        str(photos_root),
        "--dsn",
        dsn,
        "--data-dir",
        str(run_dir),
        "--workers",
        str(workers),
        "--embedder",
        embedder,
        "--detector",
        detector,
        "--vectors-out",
        str(work_dir / f"vectors-{mode}.npz"),
        "--overrides",
        json.dumps(overrides or {}),
    ]
    r = _child(args, work_dir / f"result-{mode}.json")
    shutil.rmtree(run_dir, ignore_errors=True)
    log(
        f"  {label or mode}: {r['seconds']:.1f} s, {r['photos']} photos, {r['faces']} faces, "
        f"cpu {r['cpu_seconds']:.1f} s, peak RSS {r['peak_rss_tree_mib']:.0f} MiB, "
        f"other processes kept {r['others_cores']:.2f} cores busy"
    )
    return r


def run_ingest_benchmark(
    *,
    wider: Path,
    work_dir: Path,
    dsn: str,
    runs: int,
    workers: int,
    embedder: str,
    detector: str,
    limit: int | None = None,
    quiet_wait_s: float = 0.0,
    max_others: float = 0.3,
    retries: int = 3,
    variants: list[tuple] = (),
    log=print,
) -> IngestFigures:
    """`runs` pairs (baseline, pipeline with `detector` + `embedder`) in alternating order, then each
    variant once beside a baseline of its own (label, workers, ingest module overrides[, detector,
    embedder]). The baseline
    is always the face_recognition-style script on dlib's models; when the pipeline runs the same
    models, the two must find the same faces with the same vectors (figures.identity)."""
    photos_root = work_dir / (f"photos-{limit}" if limit else "photos")
    prepare_photos(wider, photos_root, limit)
    figures = IngestFigures(
        load_before=load_average(), workers=workers, embedder=embedder, detector=detector, photos_limit=limit
    )
    common = {"workers": workers, "embedder": embedder, "detector": detector, "log": log}
    same_models = detector == "dlib-hog" and embedder in ("dlib-resnet-v1", "dlib-resnet-v1-flip")
    attempts = 0
    while len(figures.runs) < runs:
        i = len(figures.runs)
        attempts += 1
        if quiet_wait_s:
            wait_for_quiet(quiet_wait_s, log=log)
        order = ("baseline", "pipeline") if attempts % 2 == 1 else ("pipeline", "baseline")
        pair = {
            mode: _one_run(mode, work_dir, photos_root, dsn, label=f"pair {i + 1}/{runs} {mode}", **common)
            for mode in order
        }
        if not figures.identity and same_models:
            figures.identity = compare_vectors(work_dir / "vectors-baseline.npz", work_dir / "vectors-pipeline.npz")
        busy = max(pair["baseline"]["others_cores"], pair["pipeline"]["others_cores"])
        if busy > max_others and figures.discarded < retries:
            # Another user's processes took cores: the kernel shares CPU fairly between sessions
            # (autogroup), so the pipeline lost up to half its cores while the baseline lost none.
            figures.discarded += 1
            figures.discarded_pairs.append(pair)
            log(f"  pair discarded: other processes kept {busy:.2f} cores busy (limit {max_others})")
            continue
        figures.runs.append(pair)
    for variant in variants:
        label, v_workers, overrides = variant[:3]
        v_detector, v_embedder = (variant[3], variant[4]) if len(variant) > 3 else (detector, embedder)
        if quiet_wait_s:
            wait_for_quiet(quiet_wait_s, log=log)
        pipe = _one_run(
            "pipeline",
            work_dir,
            photos_root,
            dsn,
            workers=v_workers,
            embedder=v_embedder,
            detector=v_detector,
            overrides=overrides,
            log=log,
            label=f"variant {label}",
        )
        base = _one_run("baseline", work_dir, photos_root, dsn, label=f"variant {label} baseline", **common)
        figures.variants.append(
            {
                "label": label,
                "workers": v_workers,
                "overrides": overrides,
                "detector": v_detector,
                "embedder": v_embedder,
                "pipeline": pipe,
                "baseline": base,
            }
        )
    _clear_events(dsn)
    figures.load_after = load_average()
    return figures
