"""The ingest path of one event, in three steps that the Dagster assets (and the CLI) call in order:

    scan_event     -> PhotoManifest   (event_photos:    which photos, their content ids)
    detect_faces   -> FaceSet         (face_crops:      boxes, landmarks, crop files)
    embed_faces    -> EmbeddingSet    (face_embeddings: one vector per face)
    then VectorStore.replace_event    (face_vectors:    one transaction in pgvector)

Each step writes its result to the event's stage folder (DATA_DIR/stage/<event>/) and reads the
previous result to reuse what has not changed: a photo whose content and detector are unchanged keeps
its faces; a face whose id and embedder are unchanged keeps its vector.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image

from face_pipeline.lib.errors import UserError
from face_pipeline.lib.event_lock import holds_event_lock
from face_pipeline.lib.events import event_folder, validate_event_name
from face_pipeline.lib.images import (
    PhotoFile,
    PhotoRejected,
    Skipped,
    content_id,
    decode_photo,
    read_bytes,
    scan_event_folder,
)
from face_pipeline.lib.models import (
    ModelFolders,
    crop_kind_of,
    find_faces,
    get_detector,
    get_embedder,
)
from face_pipeline.lib.settings import Settings, make_private_dir
from face_pipeline.lib.store import EventWrite, FaceRow, PhotoRow, face_id_for

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


def _noop_progress(done: int, total: int) -> None:
    pass


# ---- stage files -------------------------------------------------------------------------------


def stage_folder(settings: Settings, event: str) -> Path:
    validate_event_name(event)
    return make_private_dir(settings.stage_dir / event)


def _write_json_atomic(path: Path, payload) -> None:
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(payload, fh)
    os.replace(tmp, path)


def _read_json(path: Path):
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        log.warning("stage file %s is unreadable; recomputing from scratch", path)
        return None


# ---- step 1: photos ----------------------------------------------------------------------------


@dataclass
class PhotoEntry:
    photo_id: str
    relpath: str
    size_bytes: int
    mtime: float
    width: int
    height: int
    captured_at: str | None
    format: str


@dataclass
class PhotoManifest:
    event: str
    photos: list[PhotoEntry]
    skipped: list[Skipped]
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    duplicates: int = 0

    def to_json(self) -> dict:
        d = asdict(self)
        return d

    @classmethod
    def from_json(cls, d: dict) -> PhotoManifest:
        return cls(
            event=d["event"],
            photos=[PhotoEntry(**p) for p in d["photos"]],
            skipped=[Skipped(**s) for s in d["skipped"]],
            **{k: d.get(k, 0) for k in ("new", "changed", "unchanged", "removed", "duplicates")},
        )


def _probe(photo: PhotoFile, data: bytes, settings: Settings) -> tuple[int, int, str | None, str]:
    """Header-only look at a photo: oriented size, capture time, format (no pixel decode)."""
    import io

    from face_pipeline.lib.images import _exif_datetime, _openable_formats

    try:
        img = Image.open(io.BytesIO(data), formats=_openable_formats())  # photo decoders only
        w, h = img.size
        fmt = img.format or "?"
        orientation = int(img.getexif().get(0x0112, 1))
        captured = _exif_datetime(img)
    except Exception:
        # Let the decoder give the precise reason.
        decode_photo(data, photo.relpath, max_pixels=settings.max_image_pixels, max_side=settings.max_work_side)
        raise PhotoRejected("not_an_image", f"{photo.relpath}: not a readable image") from None
    if w * h > settings.max_image_pixels:
        decode_photo(data, photo.relpath, max_pixels=settings.max_image_pixels, max_side=settings.max_work_side)
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    return w, h, captured.isoformat() if captured else None, fmt


class EmptyEventFolder(UserError):
    """The event folder holds no files at all (a folder still being copied, or the wrong one)."""


@holds_event_lock(lambda event: event)
def scan_event(settings: Settings, event: str, *, progress: Progress = _noop_progress) -> PhotoManifest:
    """List an event's photos with their content ids, reusing hashes of files whose size and
    modification time are unchanged since the previous scan."""
    folder = event_folder(settings.photos_root, event)
    stage = stage_folder(settings, event)
    previous_raw = _read_json(stage / "photos.json")
    previous = PhotoManifest.from_json(previous_raw) if previous_raw else None
    prev_by_path = {p.relpath: p for p in previous.photos} if previous else {}
    prev_ids = {p.photo_id for p in previous.photos} if previous else set()

    files, skipped = scan_event_folder(folder)
    if not files and not skipped:
        raise EmptyEventFolder(f"event folder {folder} holds no files: copy the event's photos into it first")
    photos: list[PhotoEntry] = []
    seen_ids: dict[str, str] = {}
    new = changed = unchanged = duplicates = 0
    for i, photo in enumerate(files):
        prev = prev_by_path.get(photo.relpath)
        try:
            if prev and prev.size_bytes == photo.size_bytes and prev.mtime == photo.mtime:
                entry = prev
            else:
                data = read_bytes(photo)
                w, h, captured, fmt = _probe(photo, data, settings)
                entry = PhotoEntry(content_id(data), photo.relpath, photo.size_bytes, photo.mtime, w, h, captured, fmt)
        except PhotoRejected as exc:
            skipped.append(Skipped(photo.relpath, exc.reason, exc.message))
            continue
        if entry.photo_id in seen_ids:
            duplicates += 1
            skipped.append(
                Skipped(photo.relpath, "duplicate", f"{photo.relpath}: same content as {seen_ids[entry.photo_id]}")
            )
            continue
        seen_ids[entry.photo_id] = photo.relpath
        if entry.photo_id in prev_ids:
            unchanged += 1
        elif prev is not None:
            changed += 1
        else:
            new += 1
        photos.append(entry)
        progress(i + 1, len(files))
    removed = len(prev_ids - set(seen_ids)) - changed if previous else 0
    manifest = PhotoManifest(event, photos, skipped, new, changed, unchanged, max(0, removed), duplicates)
    _write_json_atomic(stage / "photos.json", manifest.to_json())
    return manifest


def load_manifest(settings: Settings, event: str) -> PhotoManifest:
    raw = _read_json(stage_folder(settings, event) / "photos.json")
    if raw is None:
        raise FileNotFoundError(f"event {event!r} has not been scanned yet (materialise event_photos first)")
    return PhotoManifest.from_json(raw)


# ---- step 2: faces -----------------------------------------------------------------------------


@dataclass
class FaceEntry:
    face_id: str
    photo_id: str
    face_index: int
    box: list[int]  # left, top, right, bottom in full-size oriented photo pixels
    score: float
    landmarks: list[float]  # x0, y0, ... x4, y4 in photo pixels
    crop_path: str  # relative to DATA_DIR


@dataclass
class FaceSet:
    event: str
    detector_model: str
    crop_kind: str
    faces: list[FaceEntry]
    photo_faces: dict[str, int]  # photo_id -> number of faces (0 included)
    skipped: list[Skipped] = field(default_factory=list)  # photos that failed to decode
    detected_photos: int = 0
    reused_photos: int = 0
    seconds_decode: float = 0.0
    seconds_detect: float = 0.0
    seconds_align: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> FaceSet:
        d = dict(d)
        d["faces"] = [FaceEntry(**f) for f in d["faces"]]
        d["skipped"] = [Skipped(**s) for s in d.get("skipped", [])]
        return cls(**d)


@dataclass
class _DetectTask:
    event: str
    photo_id: str
    path: str
    relpath: str
    detector: str
    embedder: str
    crop_kind: str
    crops_root: str
    max_pixels: int
    max_side: int
    folders: ModelFolders


@dataclass
class _DetectResult:
    photo_id: str
    relpath: str
    faces: list[FaceEntry]
    error: tuple[str, str] | None
    seconds: tuple[float, float, float]


def _detect_one(task: _DetectTask) -> _DetectResult:
    """Decode one photo, find its faces, save one crop per face. Runs in a worker process."""
    t0 = time.perf_counter()
    try:
        with open(task.path, "rb") as fh:
            data = fh.read()
        if not data:
            raise PhotoRejected("empty_file", f"{task.relpath}: file is empty (0 bytes)")
        photo = decode_photo(data, task.relpath, max_pixels=task.max_pixels, max_side=task.max_side)
    except PhotoRejected as exc:
        return _DetectResult(task.photo_id, task.relpath, [], (exc.reason, exc.message), (0, 0, 0))
    except OSError as exc:
        return _DetectResult(task.photo_id, task.relpath, [], ("unreadable", f"{task.relpath}: {exc}"), (0, 0, 0))
    t1 = time.perf_counter()
    detector = get_detector(task.detector, task.folders)
    try:
        found = find_faces(photo.rgb, detector)
    except Exception as exc:  # an odd image must not stop the event: report it instead
        message = f"{task.relpath}: face detection failed ({type(exc).__name__}: {exc})"
        return _DetectResult(task.photo_id, task.relpath, [], ("detect_failed", message), (t1 - t0, 0, 0))
    t2 = time.perf_counter()
    # A box crop (the original recipe's CLIP) needs no model; every other crop is the embedder's own.
    embedder = None if task.crop_kind == "box" else get_embedder(task.embedder, task.folders)
    crop_dir = Path(task.crops_root) / task.event / task.photo_id
    faces: list[FaceEntry] = []
    if found:
        make_private_dir(crop_dir)
    inv = 1.0 / photo.scale
    for index, face in enumerate(found):
        if embedder is not None:
            crop = embedder.crop(photo.rgb, face)
        else:
            l, t, r, b = face.box
            crop = photo.rgb[t:b, l:r]
        face_id = face_id_for(task.event, task.photo_id, detector.model_id, index)
        rel = f"crops/{task.event}/{task.photo_id}/{index:03d}-{task.crop_kind}.png"
        out = Path(task.crops_root).parent / rel
        tmp = out.with_suffix(f".tmp{os.getpid()}.png")
        # zlib level 1: 3 ms a chip instead of 9 ms at the default 6, for ~10 % more bytes.
        Image.fromarray(np.ascontiguousarray(crop)).save(tmp, format="PNG", compress_level=1)
        os.chmod(tmp, 0o600)
        os.replace(tmp, out)
        box = [int(round(v * inv)) for v in face.box]
        lm = (face.landmarks * inv).ravel().round(2).tolist() if face.landmarks is not None else []
        faces.append(FaceEntry(face_id, task.photo_id, index, box, round(face.score, 4), lm, rel))
    t3 = time.perf_counter()
    return _DetectResult(task.photo_id, task.relpath, faces, None, (t1 - t0, t2 - t1, t3 - t2))


_shared_pool: tuple[int, int, ProcessPoolExecutor] | None = None  # (owner pid, workers, pool)


def _pool(workers: int) -> ProcessPoolExecutor:
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


def _discard_pool() -> None:
    """After a step failed or was interrupted: its leftover tasks must not delay the next step."""
    global _shared_pool
    if _shared_pool is not None and _shared_pool[0] == os.getpid():
        _shared_pool[2].shutdown(wait=False, cancel_futures=True)
    _shared_pool = None


@holds_event_lock(lambda manifest: manifest.event)
def detect_faces(
    settings: Settings,
    manifest: PhotoManifest,
    *,
    detector: str | None = None,
    embedder: str | None = None,
    progress: Progress = _noop_progress,
) -> FaceSet:
    """Faces of every photo in the manifest; photos with unchanged content and models are reused."""
    event = manifest.event
    detector_name = detector or settings.detector
    embedder_name = embedder or settings.embedder
    detector_model = get_detector(detector_name, settings.model_folders).model_id
    crop_kind = crop_kind_of(embedder_name)
    stage = stage_folder(settings, event)
    make_private_dir(settings.crops_dir / event)
    previous_raw = _read_json(stage / "faces.json")
    previous = FaceSet.from_json(previous_raw) if previous_raw else None
    reusable: dict[str, list[FaceEntry]] = {}
    prev_skipped: dict[str, Skipped] = {}
    if previous and previous.detector_model == detector_model and previous.crop_kind == crop_kind:
        by_photo: dict[str, list[FaceEntry]] = {pid: [] for pid in previous.photo_faces}
        for f in previous.faces:
            by_photo.setdefault(f.photo_id, []).append(f)
        data_dir = settings.data_dir
        for pid, faces in by_photo.items():
            if all((data_dir / f.crop_path).is_file() for f in faces):
                reusable[pid] = faces
        prev_skipped = {s.relpath: s for s in previous.skipped}

    folder = event_folder(settings.photos_root, event)
    tasks, kept_faces, photo_faces, skipped = [], [], {}, []
    for p in manifest.photos:
        if p.photo_id in reusable:
            kept_faces.extend(reusable[p.photo_id])
            photo_faces[p.photo_id] = len(reusable[p.photo_id])
        else:
            tasks.append(
                _DetectTask(event, p.photo_id, str(folder / p.relpath), p.relpath, detector_name, embedder_name,
                            crop_kind, str(settings.crops_dir), settings.max_image_pixels, settings.max_work_side,
                            settings.model_folders)
            )
    del prev_skipped  # photos that failed before are retried: the file may have been fixed

    results: list[_DetectResult] = []
    size_of = {p.photo_id: p.size_bytes for p in manifest.photos}
    workers = min(settings.worker_count(), len(tasks))
    if workers <= 1:
        for i, task in enumerate(tasks):
            results.append(_detect_one(task))
            progress(i + 1, len(tasks))
    else:
        # Largest files first: the last tasks are then short, and the workers finish together.
        tasks.sort(key=lambda t: -size_of.get(t.photo_id, 0))
        try:
            for i, res in enumerate(_pool(workers).map(_detect_one, tasks, chunksize=1)):
                results.append(res)
                progress(i + 1, len(tasks))
        except BaseException:
            _discard_pool()
            raise

    secs = [0.0, 0.0, 0.0]
    failed: set[str] = set()
    for res in results:
        if res.error:
            reason, message = res.error
            skipped.append(Skipped(res.relpath, reason, message))
            failed.add(res.photo_id)
            continue
        kept_faces.extend(res.faces)
        photo_faces[res.photo_id] = len(res.faces)
        for k in range(3):
            secs[k] += res.seconds[k]
    kept_faces.sort(key=lambda f: (f.photo_id, f.face_index))
    _remove_stale_crops(settings, event, {f.crop_path for f in kept_faces})
    face_set = FaceSet(
        event, detector_model, crop_kind, kept_faces, photo_faces, skipped,
        detected_photos=len(results) - len(failed), reused_photos=len(manifest.photos) - len(tasks),
        seconds_decode=round(secs[0], 3), seconds_detect=round(secs[1], 3), seconds_align=round(secs[2], 3),
    )
    _write_json_atomic(stage / "faces.json", face_set.to_json())
    return face_set


def _remove_stale_crops(settings: Settings, event: str, keep: set[str]) -> int:
    """Delete crop files of this event that no current face points at (removed or changed photos)."""
    root = settings.crops_dir / event
    removed = 0
    if not root.is_dir():
        return 0
    for path in root.rglob("*.png"):
        rel = path.relative_to(settings.data_dir).as_posix()
        if rel not in keep:
            path.unlink(missing_ok=True)
            removed += 1
    for d in sorted((p for p in root.iterdir() if p.is_dir()), reverse=True):
        try:
            d.rmdir()
        except OSError:
            pass
    return removed


def load_faces(settings: Settings, event: str) -> FaceSet:
    raw = _read_json(stage_folder(settings, event) / "faces.json")
    if raw is None:
        raise FileNotFoundError(f"event {event!r} has no detected faces yet (materialise face_crops first)")
    return FaceSet.from_json(raw)


# ---- step 3: embeddings ------------------------------------------------------------------------


@dataclass
class EmbeddingSet:
    event: str
    model_id: str
    face_ids: list[str]
    vectors: np.ndarray
    embedded: int = 0
    reused: int = 0
    seconds_embed: float = 0.0


#: Embedding chunks per worker process (see embed_faces).
EMBED_CHUNKS_PER_WORKER = 16
#: Below this many faces per worker, starting worker processes (~0.75 s: interpreter, imports,
#: model load) costs more than it saves; the faces are embedded in this process.
EMBED_MIN_FACES_PER_WORKER = 16


def _embed_chunk(args: tuple[str, ModelFolders, list[str]]) -> np.ndarray:
    embedder_name, folders, paths = args
    embedder = get_embedder(embedder_name, folders)
    crops = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    return embedder.embed(crops)


@holds_event_lock(lambda faces: faces.event)
def embed_faces(
    settings: Settings,
    faces: FaceSet,
    *,
    embedder: str | None = None,
    batch_size: int = 64,
    progress: Progress = _noop_progress,
) -> EmbeddingSet:
    """One vector per face, reusing vectors of faces whose id and embedder are unchanged."""
    embedder_name = embedder or settings.embedder
    emb = get_embedder(embedder_name, settings.model_folders)
    if crop_kind_of(embedder_name) != faces.crop_kind:
        raise ValueError(
            f"the face crops of {faces.event!r} are {faces.crop_kind!r} crops but {embedder_name} needs "
            f"{crop_kind_of(embedder_name)!r}: re-materialise face_crops with this embedder"
        )
    stage = stage_folder(settings, faces.event)
    vec_path = stage / "vectors.npz"
    previous: dict[str, np.ndarray] = {}
    if vec_path.is_file():
        try:
            with np.load(vec_path, allow_pickle=False) as prev:
                if str(prev["model_id"]) == emb.model_id:
                    previous = dict(zip(prev["face_ids"].tolist(), prev["vectors"], strict=True))
        except (OSError, KeyError, ValueError):
            log.warning("stage file %s is unreadable; embedding every face again", vec_path)
    todo = [f for f in faces.faces if f.face_id not in previous]
    t0 = time.perf_counter()
    fresh: dict[str, np.ndarray] = {}
    workers = min(settings.worker_count(), len(todo) // EMBED_MIN_FACES_PER_WORKER)
    if workers > 1:
        # Many small chunks, so that the workers finish together instead of one embedding a last
        # big chunk alone: dlib's time per face does not depend on the batch size (batches of 1,
        # ~17 and 64 faces took the same time within noise: BENCHMARKS.md, ingest variants).
        batch_size = max(1, min(batch_size, math.ceil(len(todo) / (workers * EMBED_CHUNKS_PER_WORKER))))
    chunks = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    args = [(embedder_name, settings.model_folders, [str(settings.data_dir / f.crop_path) for f in c]) for c in chunks]
    workers = min(workers, len(chunks))
    done = 0
    outputs = map(_embed_chunk, args) if workers <= 1 else _pool(workers).map(_embed_chunk, args)
    try:
        for chunk, vectors in zip(chunks, outputs, strict=True):
            for f, v in zip(chunk, vectors, strict=True):
                fresh[f.face_id] = v
            done += len(chunk)
            progress(done, len(todo))
    except BaseException:
        if workers > 1:
            _discard_pool()
        raise
    seconds = time.perf_counter() - t0
    face_ids = [f.face_id for f in faces.faces]
    vectors = np.zeros((len(face_ids), emb.dim), dtype=np.float32)
    for i, fid in enumerate(face_ids):
        vectors[i] = fresh[fid] if fid in fresh else previous[fid]
    result = EmbeddingSet(faces.event, emb.model_id, face_ids, vectors, len(todo), len(face_ids) - len(todo), round(seconds, 3))
    tmp = stage / f"vectors.tmp{os.getpid()}.npz"
    np.savez(tmp, model_id=np.array(emb.model_id), face_ids=np.array(face_ids, dtype=str), vectors=vectors)
    os.chmod(tmp, 0o600)
    os.replace(tmp, vec_path)
    return result


def load_embeddings(settings: Settings, event: str) -> EmbeddingSet:
    path = stage_folder(settings, event) / "vectors.npz"
    if not path.is_file():
        raise FileNotFoundError(f"event {event!r} has no embeddings yet (materialise face_embeddings first)")
    with np.load(path, allow_pickle=False) as z:
        return EmbeddingSet(event, str(z["model_id"]), z["face_ids"].tolist(), z["vectors"].copy())


# ---- step 4: the database write ----------------------------------------------------------------


def build_event_write(manifest: PhotoManifest, faces: FaceSet, embeddings: EmbeddingSet) -> EventWrite:
    """Assemble the rows of one event; photos that failed to decode are left out and reported."""
    by_id = dict(zip(embeddings.face_ids, embeddings.vectors, strict=True))
    missing = [f.face_id for f in faces.faces if f.face_id not in by_id]
    if missing:
        raise ValueError(f"{len(missing)} faces of {faces.event!r} have no vector: materialise face_embeddings again")
    failed = {s.relpath for s in faces.skipped}
    photos = [
        PhotoRow(p.photo_id, p.relpath, p.size_bytes, p.width, p.height, p.captured_at, faces.photo_faces.get(p.photo_id, 0))
        for p in manifest.photos
        if p.relpath not in failed and p.photo_id in faces.photo_faces
    ]
    keep = {p.photo_id for p in photos}
    face_rows = [
        FaceRow(f.face_id, f.photo_id, f.face_index, tuple(f.box), f.score, f.landmarks, f.crop_path)
        for f in faces.faces
        if f.photo_id in keep
    ]
    dim = embeddings.vectors.shape[1] if embeddings.vectors.ndim == 2 else 0
    # reshape(0, -1) fails on an event without faces (all landscapes): give the dimension.
    vectors = np.asarray([by_id[f.face_id] for f in face_rows], dtype=np.float32).reshape(len(face_rows), dim)
    skipped = [(s.relpath, s.reason, s.message) for s in [*manifest.skipped, *faces.skipped]]
    return EventWrite(manifest.event, faces.detector_model, embeddings.model_id, photos, face_rows, vectors, skipped)


# ---- all steps, for the CLI and scripts (the Dagster assets call the steps one by one) ---------


@dataclass
class EventReport:
    event: str
    manifest: PhotoManifest
    faces: FaceSet
    embeddings: EmbeddingSet
    written: object  # WriteSummary
    seconds: dict[str, float]


def ingest_event(settings: Settings, store, event: str, *, progress: Callable[[str, int, int], None] | None = None) -> EventReport:
    """Scan, detect, embed and store one event; the same calls, in the same order, as the assets."""
    def step(name: str) -> Progress:
        return (lambda d, t: progress(name, d, t)) if progress else _noop_progress

    seconds = {}
    t = time.perf_counter()
    manifest = scan_event(settings, event, progress=step("hashing photos"))
    seconds["scan"] = time.perf_counter() - t
    t = time.perf_counter()
    faces = detect_faces(settings, manifest, progress=step("detecting faces"))
    seconds["detect"] = time.perf_counter() - t
    t = time.perf_counter()
    embeddings = embed_faces(settings, faces, progress=step("embedding faces"))
    seconds["embed"] = time.perf_counter() - t
    t = time.perf_counter()
    written = store.replace_event(build_event_write(manifest, faces, embeddings))
    seconds["write"] = time.perf_counter() - t
    return EventReport(event, manifest, faces, embeddings, written, {k: round(v, 3) for k, v in seconds.items()})
