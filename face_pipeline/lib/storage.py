"""Where files live: a local folder, or an object store (`s3://`, `gs://`, `az://`), one API for both.

The photos root and the data folder's crops and stage files may be object-store URLs, so that
workers on several machines share them without a shared disk. This is universal-pathlib (pathlib's
API over fsspec), not a client of ours:

- a local path stays a plain `pathlib.Path`, and keeps what only a local disk gives: owner-only
  files and folders (crops are photos of people) and atomic renames (a reader never sees half a file);
- a URL becomes a `UPath`: a write is one object PUT (atomic too: readers see the old object or the
  new one), a folder is a key prefix (nothing to create), a listing carries size, mtime and ETag.

Credentials and endpoints come from each store's own configuration (AWS_* variables, ~/.aws,
FSSPEC_S3_ENDPOINT_URL and the other FSSPEC_<PROTOCOL>_<OPTION> variables), never from ours. The
protocols need their fsspec package (s3fs for s3://, gcsfs for gs://, adlfs for az://).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import fsspec
from upath import UPath

from face_pipeline.lib.errors import ConfigError

LOCAL_PROTOCOLS = ("", "file", "local")


def parse_location(text: str, *, setting: str = "") -> Path:
    """A folder from a setting: a URL (`s3://bucket/prefix`) becomes a UPath, anything else an
    absolute local path. An unknown protocol, or one whose fsspec package is missing, is a
    ConfigError naming `setting`."""
    text = text.strip()
    if text.startswith("file://"):
        text = text[len("file://") :]
    if "://" not in text:
        return Path(text).expanduser().resolve()
    protocol = text.split("://", 1)[0].lower()
    try:
        fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError) as exc:
        raise ConfigError(f"{setting or 'location'}={text}: {protocol}:// is not usable here ({exc})") from None
    return UPath(text.rstrip("/"))


def location_of(text: str) -> Path:
    """A path or URL that came out of `parse_location` (e.g. through a worker task), as an object."""
    return UPath(text) if "://" in text else Path(text)


def as_path(path) -> Path:
    """A Path or UPath unchanged; a string (a path or URL) as one."""
    return path if isinstance(path, (Path, UPath)) else location_of(os.fspath(path))


def is_remote(path: Path) -> bool:
    return isinstance(path, UPath) and path.protocol not in LOCAL_PROTOCOLS


def make_private_dir(path: Path) -> Path:
    """Create a folder readable by the owner only: crops and stage files are photos of people.

    Missing parents are created owner-only too (`mkdir(parents=True)` would give them the umask's
    0755, so DATA_DIR/crops would list every event to every user of the machine). In an object store
    there are no folders to create: access is the bucket's policy.
    """
    if is_remote(path):
        return path
    for parent in reversed(path.parents):
        if not parent.exists():
            try:
                parent.mkdir(mode=0o700)
            except FileExistsError:
                pass
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.chmod(path, 0o700)
    except PermissionError:
        pass  # a folder of another owner that we may write to: leave its mode alone
    return path


def write_file(path: Path, data: bytes) -> None:
    """Write a whole file so that readers see the old content or the new, never a part: locally a
    private temporary file renamed over the target, in an object store one PUT."""
    if is_remote(path):
        path.write_bytes(data)
        return
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_file(path: Path) -> bytes:
    return path.read_bytes()


def remove_file(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def remove_tree(path: Path) -> None:
    """Delete a folder (a key prefix) and all it holds; nothing to do when it is not there."""
    if is_remote(path):
        fs = path.fs
        fs.invalidate_cache()
        if fs.exists(path.path):
            fs.rm(path.path, recursive=True)
        return
    shutil.rmtree(path, ignore_errors=True)


def count_files(folder: Path) -> int:
    """How many files a folder holds, sub-folders included (0 when it does not exist)."""
    if is_remote(folder):
        folder.fs.invalidate_cache()
        return len(folder.fs.find(folder.path)) if folder.fs.exists(folder.path) else 0
    return sum(1 for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


@dataclass(frozen=True)
class StoredFile:
    """One object under a remote folder, as its listing describes it."""

    path: Path
    relpath: str
    size: int
    mtime: float
    tag: str  # the ETag: changes whenever the content does, even within one second


def list_remote_files(folder: Path) -> list[StoredFile]:
    """Every object under `folder` (sub-folders included), sorted, hidden names (`.x`) left out.

    The listing is asked for afresh each time (fsspec caches listings per process, and the sensor
    must see photos uploaded since its last tick)."""
    fs = folder.fs
    fs.invalidate_cache()
    prefix = folder.path.rstrip("/") + "/"
    out = []
    for key, info in sorted(fs.find(folder.path, detail=True).items()):
        if info.get("type") == "directory" or not key.startswith(prefix):
            continue
        rel = key[len(prefix) :]
        if not rel or any(part.startswith(".") for part in rel.split("/")):
            continue
        modified = info.get("LastModified") or info.get("mtime") or info.get("last_modified")
        mtime = modified.timestamp() if hasattr(modified, "timestamp") else float(modified or 0)
        tag = str(info.get("ETag") or info.get("etag") or info.get("md5") or f"{info.get('size')}:{mtime}")
        out.append(StoredFile(folder / rel, rel, int(info.get("size") or 0), mtime, tag.strip('"')))
    return out
