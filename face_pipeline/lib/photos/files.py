"""Finding an event's photo files, robustly: which files are candidates, which are skipped and why.

Every photo folder holds surprises (symlinks out of the folder, text files named `.jpg`, files that are
not UTF-8 named, disk images). Each is turned into a `Skipped` entry (or a `PhotoRejected` while
reading) with a short machine-readable `reason` and a sentence for people, so an event is processed
around it and the file is reported.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from face_pipeline.lib.errors import UserError
from face_pipeline.lib.storage import as_path, is_remote, list_remote_files

#: Files larger than this are refused before they are read into memory (no photo is this large; a
#: multi-gigabyte `.jpg` is a disk image or a video that would otherwise exhaust memory).
MAX_FILE_BYTES = 1 << 30

IMAGE_SUFFIXES = {
    ".jpg",
    ".jpeg",
    ".jpe",
    ".png",
    ".webp",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".heic",
    ".heif",
}
HEIC_SUFFIXES = {".heic", ".heif"}

#: Every reason code a skipped file can carry (RELIABILITY.md lists what each means to a user).
SKIP_REASONS = {
    "empty_file",
    "truncated",
    "corrupt",
    "not_an_image",
    "too_many_pixels",
    "too_large",
    "file_too_large",
    "heic_unsupported",
    "unreadable",
    "broken_symlink",
    "symlink_outside",
    "symlink_dir",
    "not_a_file",
    "bad_file_name",
    "duplicate",
    "detect_failed",
    "missing",
}


def printable_path(rel: str) -> str:
    """A path that PostgreSQL and JSON accept: bytes that are not UTF-8 are shown as \\xNN."""
    try:
        rel.encode("utf-8")
        return rel
    except UnicodeEncodeError:
        return os.fsencode(rel).decode("utf-8", "backslashreplace")


class PhotoRejected(UserError):
    """A file that can not be used as a photo; `reason` is a stable short code."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class PhotoFile:
    """A candidate file inside an event folder (path relative to the event folder)."""

    path: Path
    relpath: str
    size_bytes: int
    mtime: float


@dataclass(frozen=True)
class Skipped:
    relpath: str
    reason: str
    message: str


@dataclass
class Ignored:
    """A hidden file or folder of an event folder: not searched, but listed, with the files it holds."""

    relpath: str
    reason: str
    message: str
    files: int = 1


def scan_event_folder(folder: Path, *, ignored: list[Ignored] | None = None) -> tuple[list[PhotoFile], list[Skipped]]:
    """All candidate photo files under an event folder, and the files skipped while walking it.

    Symlinks are never followed out of the folder; anything that is not a regular file with an image
    suffix is reported as skipped, so the user can see what was left out. Hidden files and folders
    (`.DS_Store`, macOS `._` twins, `.thumbnails/`) are not searched; they are appended to `ignored`
    (reason `hidden`; a folder once, its message saying how many files it holds).
    """
    folder = as_path(folder)
    if is_remote(folder):
        return _scan_remote_folder(folder)
    ignored = [] if ignored is None else ignored
    root_real = folder.resolve()
    photos: list[PhotoFile] = []
    skipped: list[Skipped] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        _prune_folders(folder, Path(dirpath), dirnames, ignored, skipped)
        for name in sorted(filenames):
            found = _file_verdict(folder, root_real, Path(dirpath) / name)
            if isinstance(found, PhotoFile):
                photos.append(found)
            elif isinstance(found, Skipped):
                skipped.append(found)
            else:
                ignored.append(found)
    return photos, skipped


def _prune_folders(
    folder: Path, here: Path, dirnames: list[str], ignored: list[Ignored], skipped: list[Skipped]
) -> None:
    """Keep os.walk out of hidden folders and folder symlinks, reporting each instead of staying silent."""
    for name in sorted(d for d in dirnames if d.startswith(".")):
        rel = printable_path((here / name).relative_to(folder).as_posix())
        n = hidden_file_count(here / name)
        ignored.append(Ignored(rel + "/", "hidden", f"{rel}/: hidden folder ({n} files); not searched", n))
    dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    for name in list(dirnames):
        if (here / name).is_symlink():
            dirnames.remove(name)  # os.walk would not descend; say so instead of staying silent
            rel = printable_path((here / name).relative_to(folder).as_posix())
            skipped.append(Skipped(rel, "symlink_dir", f"{rel}: symbolic link to a folder; not followed"))


def _file_verdict(folder: Path, root_real: Path, path: Path) -> PhotoFile | Skipped | Ignored:
    """One file's fate, so that every file the walk meets ends up listed as a photo, skipped or ignored."""
    rel = path.relative_to(folder).as_posix()
    if path.name.startswith("."):
        rel = printable_path(rel)
        return Ignored(rel, "hidden", f"{rel}: hidden file (its name starts with '.'); not searched")
    if printable_path(rel) != rel:
        rel = printable_path(rel)
        return Skipped(rel, "bad_file_name", f"{rel}: file name is not valid UTF-8; rename the file to include it")
    if path.is_symlink():
        refused = _symlink_refusal(path, rel, root_real)
        if refused is not None:
            return refused
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        return Skipped(rel, "not_an_image", f"{rel}: not an image file (suffix {suffix or 'none'!r})")
    try:
        st = path.stat()
    except OSError as exc:
        return Skipped(rel, "unreadable", f"{rel}: cannot stat ({exc.strerror})")
    if not path.is_file():
        return Skipped(rel, "not_a_file", f"{rel}: not a regular file")
    return PhotoFile(path, rel, st.st_size, st.st_mtime)


def _symlink_refusal(path: Path, rel: str, root_real: Path) -> Skipped | None:
    """Why a file symlink is not read (a loop, broken, or leading out of the event folder), or None."""
    try:
        target = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return Skipped(rel, "broken_symlink", f"{rel}: symbolic link loop")
    if not target.exists():
        return Skipped(rel, "broken_symlink", f"{rel}: broken symbolic link")
    if not target.is_relative_to(root_real):
        return Skipped(rel, "symlink_outside", f"{rel}: symbolic link points outside the event folder; not followed")
    return None


def hidden_file_count(folder: Path) -> int:
    """Files under a hidden folder (symbolic links not followed), for the count of ignored files."""
    if folder.is_symlink():
        return 1
    return sum(len(files) for _, _, files in os.walk(folder, followlinks=False))


def _scan_remote_folder(folder: Path) -> tuple[list[PhotoFile], list[Skipped]]:
    """The same, on an object store's listing (no symbolic links or special files there)."""
    photos: list[PhotoFile] = []
    skipped: list[Skipped] = []
    for obj in list_remote_files(folder):
        suffix = Path(obj.relpath).suffix.lower()
        if suffix not in IMAGE_SUFFIXES:
            skipped.append(
                Skipped(obj.relpath, "not_an_image", f"{obj.relpath}: not an image file (suffix {suffix or 'none'!r})")
            )
            continue
        photos.append(PhotoFile(obj.path, obj.relpath, obj.size, obj.mtime))
    return photos, skipped


def read_bytes(photo: PhotoFile) -> bytes:
    if photo.size_bytes > MAX_FILE_BYTES:
        raise PhotoRejected(
            "file_too_large",
            f"{photo.relpath}: {photo.size_bytes:,} bytes is larger than any photo ({MAX_FILE_BYTES:,} bytes at most)",
        )
    try:
        data = photo.path.read_bytes()
    except PermissionError as exc:
        raise PhotoRejected("unreadable", f"{photo.relpath}: permission denied") from exc
    except OSError as exc:
        raise PhotoRejected("unreadable", f"{photo.relpath}: cannot read ({exc.strerror or exc})") from exc
    if not data:
        raise PhotoRejected("empty_file", f"{photo.relpath}: file is empty (0 bytes)")
    return data


def content_id(data: bytes) -> str:
    """A photo's identity is its content: the same bytes under any name are the same photo."""
    return hashlib.sha256(data).hexdigest()[:32]
