"""Event names and event folders.

An event name becomes a Dagster partition key, a folder name and a value in SQL, so it is held to
a strict alphabet: lower-case letters, digits, `-` and `_`, starting with a letter or digit.
(Commas would break backfill selection in the UI; `/` or `..` would escape the photos root.)
"""

from __future__ import annotations

import re
from pathlib import Path

from face_pipeline.lib.errors import UserError
from face_pipeline.lib.storage import as_path, is_remote

EVENT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class InvalidEventName(UserError):
    pass


def validate_event_name(name: str) -> str:
    """Return the name unchanged if it is a valid event name, else raise with the reason."""
    if not isinstance(name, str) or not name:
        raise InvalidEventName("event name is empty")
    if EVENT_NAME_RE.fullmatch(name):
        return name
    hint = ""
    if name.lower() != name and EVENT_NAME_RE.fullmatch(name.lower()):
        hint = f" (did you mean {name.lower()!r}?)"
    elif "/" in name or "\\" in name or ".." in name:
        hint = " (paths are not allowed: give the folder's name only)"
    raise InvalidEventName(
        f"invalid event name {name!r}: use 1-63 lower-case letters, digits, '-' or '_', "
        f"starting with a letter or digit{hint}"
    )


def _is_link(path: Path) -> bool:
    """A symbolic link (never followed: it could lead out of the photos root); object stores have none."""
    return not is_remote(path) and path.is_symlink()


def is_valid_event_name(name: str) -> bool:
    return bool(isinstance(name, str) and EVENT_NAME_RE.fullmatch(name))


def event_folder(photos_root: Path, event: str) -> Path:
    """The folder of a (validated) event; it must exist and lie inside the photos root (a local
    folder, or a prefix in an object store)."""
    validate_event_name(event)
    root = as_path(photos_root)
    if not root.is_dir():
        raise UserError(f"photos root {root} does not exist or is not a folder")
    folder = root / event
    if _is_link(folder) or not folder.is_dir():
        raise UserError(f"event folder {folder} does not exist (expected <photos root>/<event>/...)")
    return folder


def list_event_folders(photos_root: Path) -> tuple[list[str], list[str]]:
    """(valid event names, invalid folder names) directly under the photos root, sorted."""
    root = as_path(photos_root)
    if not root.is_dir():
        return [], []
    valid, invalid = [], []
    for child in sorted(root.iterdir(), key=lambda c: c.name):
        if _is_link(child) or not child.is_dir() or child.name.startswith("."):
            continue
        (valid if is_valid_event_name(child.name) else invalid).append(child.name)
    return valid, invalid
