"""Which HTML pages under DATA_DIR/reports show which photos: a record the pages' writers keep
(reports/index.json, owner-only), read by forgetting instead of searching the pages' text.

Pages written elsewhere (`find --html PATH` outside the reports folder) are the user's files and are
not recorded: forgetting never deletes outside DATA_DIR.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from face_pipeline.lib.settings import Settings
from face_pipeline.lib.storage import make_private_dir

INDEX = "index.json"


def _index_path(settings: Settings) -> Path:
    return settings.reports_dir / INDEX


def read_index(settings: Settings) -> dict[str, list[list[str]]]:
    """page name (relative to the reports folder) -> [[event, path], ...] it shows."""
    try:
        return json.loads(_index_path(settings).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _write_index(settings: Settings, index: dict) -> None:
    make_private_dir(settings.reports_dir)
    path = _index_path(settings)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(index, fh, indent=1, sort_keys=True)
    os.replace(tmp, path)


def record_page(settings: Settings, page: Path, photos: Iterable[tuple[str, str]]) -> None:
    """Note that `page` shows these (event, path) photos (nothing when it lies outside the folder)."""
    reports = settings.reports_dir.resolve()
    page = Path(page).resolve()
    if not page.is_relative_to(reports):
        return
    index = read_index(settings)
    index[page.relative_to(reports).as_posix()] = sorted([list(p) for p in set(photos)])
    _write_index(settings, index)


def pages_showing(
    settings: Settings, *, photos: set[tuple[str, str]] = frozenset(), events: set[str] = frozenset()
) -> list[Path]:
    """The recorded pages that show one of these (event, path) photos, or any photo of these events."""
    out = []
    for name, shown in sorted(read_index(settings).items()):
        if any((e, p) in photos or e in events for e, p in shown):
            page = settings.reports_dir / name
            if page.is_file():
                out.append(page)
    return out


def forget_pages(settings: Settings, pages: Iterable[Path]) -> int:
    """Delete pages and their entries in the record; returns how many files were deleted."""
    pages = list(pages)
    if not pages:
        return 0
    index = read_index(settings)
    reports = settings.reports_dir.resolve()
    n = 0
    for page in pages:
        index.pop(Path(page).resolve().relative_to(reports).as_posix(), None)
        try:
            Path(page).unlink()
            n += 1
        except FileNotFoundError:
            pass
    _write_index(settings, index)
    return n
