"""Step 1, event_photos: which photos an event folder holds, identified by content hash."""

from __future__ import annotations

from face_pipeline.lib.errors import UserError
from face_pipeline.lib.ingest.event_lock import holds_event_lock
from face_pipeline.lib.ingest.progress import Progress, no_progress
from face_pipeline.lib.ingest.records import PhotoEntry, PhotoManifest
from face_pipeline.lib.ingest.stage_files import previous_manifest, write_manifest
from face_pipeline.lib.photos.decode import probe_header
from face_pipeline.lib.photos.events import event_folder
from face_pipeline.lib.photos.files import (
    Ignored,
    PhotoRejected,
    Skipped,
    content_id,
    read_bytes,
    scan_event_folder,
)
from face_pipeline.lib.settings import Settings


@holds_event_lock(lambda event: event)
def scan_event(settings: Settings, event: str, *, progress: Progress = no_progress) -> PhotoManifest:
    """List an event's photos with their content ids, reusing hashes of files whose size and
    modification time are unchanged since the previous scan."""
    folder = event_folder(settings.photos_root, event)
    previous = previous_manifest(settings, event)
    prev_by_path = {p.relpath: p for p in previous.photos} if previous else {}
    prev_ids = {p.photo_id for p in previous.photos} if previous else set()

    ignored: list[Ignored] = []
    files, skipped = scan_event_folder(folder, ignored=ignored)
    if not files and not skipped:
        hidden = f" (only {sum(i.files for i in ignored)} hidden files, which are never searched)" if ignored else ""
        raise UserError(f"event folder {folder} holds no files{hidden}: copy the event's photos into it first")
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
                header = probe_header(
                    data, photo.relpath, max_pixels=settings.max_image_pixels, max_side=settings.max_work_side
                )
                captured = header.captured_at.isoformat() if header.captured_at else None
                entry = PhotoEntry(
                    content_id(data),
                    photo.relpath,
                    photo.size_bytes,
                    photo.mtime,
                    header.width,
                    header.height,
                    captured,
                    header.format,
                )
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
    manifest = PhotoManifest(event, photos, skipped, new, changed, unchanged, max(0, removed), duplicates, ignored)
    write_manifest(settings, manifest)
    return manifest
