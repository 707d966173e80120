"""What changed under the photos root since last time (the new-event sensor's plain-Python core).

An event folder's fingerprint is a hash of (path, size, mtime) of every file in it (in an object
store, of each object's key, size and ETag from one listing): a new, changed, renamed or deleted
photo changes it. A folder still being copied into is left alone until nothing in it has changed
for `stable_seconds`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from face_pipeline.lib.photos.events import list_event_folders
from face_pipeline.lib.storage import as_path, is_remote, list_remote_files


@dataclass(frozen=True)
class FolderState:
    fingerprint: str
    files: int
    newest_mtime: float


def folder_state(folder: Path) -> FolderState:
    if is_remote(folder):
        return _remote_folder_state(folder)
    h = hashlib.sha256()
    files = 0
    newest = Path(folder).stat().st_mtime
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        try:
            newest = max(newest, os.stat(dirpath).st_mtime)
        except OSError:
            pass
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            files += 1
            newest = max(newest, st.st_mtime)
            h.update(
                f"{os.path.relpath(path, folder)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape")
            )
    return FolderState(h.hexdigest()[:24], files, newest)


def _remote_folder_state(folder: Path) -> FolderState:
    h = hashlib.sha256()
    objects = list_remote_files(folder)
    for obj in objects:
        h.update(f"{obj.relpath}\0{obj.size}\0{obj.tag}\n".encode())
    return FolderState(h.hexdigest()[:24], len(objects), max((o.mtime for o in objects), default=0.0))


@dataclass
class RootChanges:
    new_events: list[str] = field(default_factory=list)  # folders never requested before
    changed_events: list[str] = field(default_factory=list)  # known, content differs from last request
    waiting: list[str] = field(default_factory=list)  # changed but still being written
    invalid_names: list[str] = field(default_factory=list)  # folders that can not be event names
    fingerprints: dict[str, str] = field(default_factory=dict)  # event -> current fingerprint


def plan_changes(
    photos_root: Path,
    requested: dict[str, str],
    *,
    now: float,
    stable_seconds: float,
    known_events: set[str] | None = None,
) -> RootChanges:
    """Compare every event folder with the fingerprint last requested (`requested`)."""
    valid, invalid = list_event_folders(photos_root)
    out = RootChanges(invalid_names=invalid)
    for event in valid:
        state = folder_state(as_path(photos_root) / event)
        if state.files == 0:
            continue  # an empty folder is not an event yet
        if requested.get(event) == state.fingerprint:
            continue
        if now - state.newest_mtime < stable_seconds:
            out.waiting.append(event)
            continue
        out.fingerprints[event] = state.fingerprint
        is_known = event in requested or (known_events is not None and event in known_events)
        (out.changed_events if is_known else out.new_events).append(event)
    return out
