"""Step 2, face_crops: every face of every photo (box, landmarks) and the crop its embedder reads.

Each photo is read and decoded once: its crops are cut from the decoded image, and while they are in
memory the worker also embeds them, all faces of the photo in one network call, for the embedding
step to take (stage_files.write_detect_vectors); that step embeds from the crop files only the faces
that have no such vector (another embedder, an earlier run), so its result is the same either way.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from face_pipeline.lib.ingest.event_lock import holds_event_lock
from face_pipeline.lib.ingest.progress import Progress, no_progress
from face_pipeline.lib.ingest.records import FaceSet, PhotoManifest
from face_pipeline.lib.ingest.stage_files import previous_faces, write_detect_vectors, write_faces
from face_pipeline.lib.ingest.worker_pool import discard_worker_pool, worker_pool
from face_pipeline.lib.models import (
    ModelFolders,
    crop_kind_of,
    embedder_model_id,
    find_faces,
    get_detector,
    get_embedder,
)
from face_pipeline.lib.photos.decode import decode_photo
from face_pipeline.lib.photos.events import event_folder
from face_pipeline.lib.photos.files import PhotoRejected, Skipped
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.storage import (
    is_remote,
    list_remote_files,
    location_of,
    make_private_dir,
    remove_file,
    write_file,
)
from face_pipeline.lib.store.records import FaceRow, face_id_for


@dataclass
class DetectTask:
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
class DetectResult:
    photo_id: str
    relpath: str
    faces: list[FaceRow]
    error: tuple[str, str] | None
    seconds: tuple[float, float, float, float]  # decode, detect, align + crop files, embed
    vectors: np.ndarray | None = None  # one per face, by the task's embedder (None: box crops)


def detect_one(task: DetectTask) -> DetectResult:
    """Decode one photo, find its faces, save one crop per face. Runs in a worker process."""
    t0 = time.perf_counter()
    try:
        data = location_of(task.path).read_bytes()
        if not data:
            raise PhotoRejected("empty_file", f"{task.relpath}: file is empty (0 bytes)")
        photo = decode_photo(data, task.relpath, max_pixels=task.max_pixels, max_side=task.max_side)
    except PhotoRejected as exc:
        return DetectResult(task.photo_id, task.relpath, [], (exc.reason, exc.message), (0, 0, 0, 0))
    except OSError as exc:
        return DetectResult(task.photo_id, task.relpath, [], ("unreadable", f"{task.relpath}: {exc}"), (0, 0, 0, 0))
    t1 = time.perf_counter()
    detector = get_detector(task.detector, task.folders)
    try:
        found = find_faces(photo.rgb, detector)
    except Exception as exc:  # an odd image must not stop the event: report it instead
        message = f"{task.relpath}: face detection failed ({type(exc).__name__}: {exc})"
        return DetectResult(task.photo_id, task.relpath, [], ("detect_failed", message), (t1 - t0, 0, 0, 0))
    t2 = time.perf_counter()
    # A box crop (the original recipe's CLIP) needs no model; every other crop is the embedder's own.
    embedder = None if task.crop_kind == "box" else get_embedder(task.embedder, task.folders)
    crops_root = location_of(task.crops_root)
    faces: list[FaceRow] = []
    if found:
        make_private_dir(crops_root / task.event / task.photo_id)
    inv = 1.0 / photo.scale
    crops = []
    for index, face in enumerate(found):
        if embedder is not None:
            crop = embedder.crop(photo.rgb, face)
        else:
            l, t, r, b = face.box
            crop = photo.rgb[t:b, l:r]
        crops.append(crop)
        face_id = face_id_for(task.event, task.photo_id, detector.model_id, index)
        rel = f"crops/{task.event}/{task.photo_id}/{index:03d}-{task.crop_kind}.png"
        png = io.BytesIO()
        # zlib level 1: 3 ms a chip instead of 9 ms at the default 6, for ~10 % more bytes.
        Image.fromarray(np.ascontiguousarray(crop)).save(png, format="PNG", compress_level=1)
        write_file(crops_root.parent / rel, png.getvalue())
        box = tuple(int(round(v * inv)) for v in face.box)
        lm = (face.landmarks * inv).ravel().round(2).tolist() if face.landmarks is not None else []
        faces.append(
            FaceRow(
                face_id=face_id,
                photo_id=task.photo_id,
                face_index=index,
                box=box,
                score=round(face.score, 4),
                landmarks=lm,
                crop_path=rel,
            )
        )
    t3 = time.perf_counter()
    vectors = embedder.embed(crops) if embedder is not None else None  # the photo's faces in one call
    t4 = time.perf_counter()
    return DetectResult(task.photo_id, task.relpath, faces, None, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), vectors)


def reusable_faces(
    settings: Settings, previous: FaceSet | None, detector_model: str, crop_kind: str
) -> dict[str, list[FaceRow]]:
    """photo_id -> faces of the last run, for photos it found with the same detector and crop kind
    and whose crop files are all still there. (Photos that failed before are not reused: the file may
    have been fixed.)"""
    if not previous or previous.detector_model != detector_model or previous.crop_kind != crop_kind:
        return {}
    by_photo: dict[str, list[FaceRow]] = {pid: [] for pid in previous.photo_faces}
    for f in previous.faces:
        by_photo.setdefault(f.photo_id, []).append(f)
    present = crop_files(settings, previous.event)
    return {pid: faces for pid, faces in by_photo.items() if all(f.crop_path in present for f in faces)}


def crop_files(settings: Settings, event: str) -> set[str]:
    """The crop files of an event that exist, as data-folder-relative paths (`crops/<event>/...`):
    one walk of the folder, or one listing in an object store (not one request per face)."""
    root = settings.crops_dir / event
    if is_remote(root):
        return {f"crops/{event}/{obj.relpath}" for obj in list_remote_files(root) if obj.relpath.endswith(".png")}
    if not root.is_dir():
        return set()
    return {path.relative_to(settings.data_dir).as_posix() for path in root.rglob("*.png")}


def run_detect_tasks(
    settings: Settings, tasks: list[DetectTask], sizes: dict[str, int], progress: Progress
) -> list[DetectResult]:
    """Every task's result, in this process or in the worker pool (largest files first, so that the
    last tasks are short and the workers finish together)."""
    results: list[DetectResult] = []
    workers = min(settings.worker_count(), len(tasks))
    if workers <= 1:
        for i, task in enumerate(tasks):
            results.append(detect_one(task))
            progress(i + 1, len(tasks))
        return results
    tasks = sorted(tasks, key=lambda t: -sizes.get(t.photo_id, 0))
    try:
        for i, res in enumerate(worker_pool(workers).map(detect_one, tasks, chunksize=1)):
            results.append(res)
            progress(i + 1, len(tasks))
    except BaseException:
        discard_worker_pool()
        raise
    return results


@holds_event_lock(lambda manifest: manifest.event)
def detect_faces(
    settings: Settings,
    manifest: PhotoManifest,
    *,
    detector: str | None = None,
    embedder: str | None = None,
    progress: Progress = no_progress,
) -> FaceSet:
    """Faces of every photo in the manifest; photos with unchanged content and models are reused."""
    event = manifest.event
    detector_name = detector or settings.detector
    embedder_name = embedder or settings.embedder
    # Built here first so that a missing or damaged weight file stops the event before any photo is
    # dispatched (building checks the files; the workers' copies read the weights on first use).
    detector_model = get_detector(detector_name, settings.model_folders).model_id
    crop_kind = crop_kind_of(embedder_name)
    make_private_dir(settings.crops_dir / event)
    reusable = reusable_faces(settings, previous_faces(settings, event), detector_model, crop_kind)
    folder = event_folder(settings.photos_root, event)
    tasks, kept_faces, photo_faces, skipped = [], [], {}, []
    for p in manifest.photos:
        if p.photo_id in reusable:
            kept_faces.extend(reusable[p.photo_id])
            photo_faces[p.photo_id] = len(reusable[p.photo_id])
        else:
            tasks.append(
                DetectTask(
                    event,
                    p.photo_id,
                    str(folder / p.relpath),
                    p.relpath,
                    detector_name,
                    embedder_name,
                    crop_kind,
                    str(settings.crops_dir),
                    settings.max_image_pixels,
                    settings.max_work_side,
                    settings.model_folders,
                )
            )
    results = run_detect_tasks(settings, tasks, {p.photo_id: p.size_bytes for p in manifest.photos}, progress)
    secs = [0.0, 0.0, 0.0, 0.0]
    failed = 0
    early: dict[str, np.ndarray] = {}
    for res in results:
        if res.error:
            skipped.append(Skipped(res.relpath, *res.error))
            failed += 1
            continue
        kept_faces.extend(res.faces)
        photo_faces[res.photo_id] = len(res.faces)
        secs = [a + b for a, b in zip(secs, res.seconds, strict=True)]
        if res.vectors is not None:
            early.update(zip((f.face_id for f in res.faces), res.vectors, strict=True))
    kept_faces.sort(key=lambda f: (f.photo_id, f.face_index))
    remove_stale_crops(settings, event, {f.crop_path for f in kept_faces})
    face_set = FaceSet(
        event,
        detector_model,
        crop_kind,
        kept_faces,
        photo_faces,
        skipped,
        detected_photos=len(results) - failed,
        reused_photos=len(manifest.photos) - len(tasks),
        seconds_decode=round(secs[0], 3),
        seconds_detect=round(secs[1], 3),
        seconds_align=round(secs[2], 3),
        seconds_embed=round(secs[3], 3),
    )
    if crop_kind != "box":
        write_detect_vectors(settings, event, embedder_model_id(embedder_name, settings.model_folders), early)
    write_faces(settings, face_set)
    return face_set


def remove_stale_crops(settings: Settings, event: str, keep: set[str]) -> int:
    """Delete crop files of this event that no current face points at (removed or changed photos)."""
    root = settings.crops_dir / event
    removed = 0
    for rel in sorted(crop_files(settings, event) - keep):
        remove_file(settings.data_dir / rel)
        removed += 1
    if is_remote(root) or not root.is_dir():
        return removed  # an object store has no empty folders left behind
    for d in sorted((p for p in root.iterdir() if p.is_dir()), reverse=True):
        try:
            d.rmdir()
        except OSError:
            pass
    return removed
