"""One home for every setting: a frozen dataclass filled from environment variables.

The CLI, the Dagster resources and the tests all build their `Settings` here, so a variable means
the same thing everywhere. Every variable is optional; defaults suit a laptop checkout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ENV_PREFIX = "FACE_PIPELINE_"

#: The documented variables, their defaults and meaning (README's "Settings" table is built from this).
VARIABLES: dict[str, tuple[str, str]] = {
    "PHOTOS_ROOT": ("./photos", "folder holding one sub-folder per event (`<root>/<event>/...`)"),
    "DATA_DIR": ("./data", "face crops, per-event stage files, the embedded PostgreSQL, reports"),
    "DSN": ("", "PostgreSQL to use (`postgresql://user:pass@host/db`); empty = embedded server in DATA_DIR/pg"),
    "DETECTOR": ("dlib-hog", "face detector: dlib-hog, dlib-hog-plus, dlib-cnn, haar"),
    "EMBEDDER": ("dlib-resnet-v1", "face embedder: dlib-resnet-v1, dlib-resnet-v1-flip, clip-imgbeddings"),
    "CLIP_MODEL_DIR": ("", "folder with imgbeddings' ONNX file and the CLIP processor files (offline)"),
    "MAX_IMAGE_PIXELS": ("120000000", "decompression-bomb guard: larger images are refused"),
    "MAX_WORK_SIDE": ("2400", "large photos are downscaled to this longest side before detection"),
    "WORKERS": ("0", "processes for detection/embedding (0 = one per core)"),
    "STABLE_SECONDS": ("60", "the sensor waits until an event folder is unchanged this long"),
    "EVENT_LOCK_WAIT": ("1800", "a second ingest of the same event waits this long, then fails (read by event_lock.py)"),
}


def _env(name: str) -> str:
    return os.environ.get(ENV_PREFIX + name, VARIABLES[name][0])


@dataclass(frozen=True)
class Settings:
    photos_root: Path
    data_dir: Path
    dsn: str = ""
    detector: str = "dlib-hog"
    embedder: str = "dlib-resnet-v1"
    clip_model_dir: str = ""
    max_image_pixels: int = 120_000_000
    max_work_side: int = 2400
    workers: int = 0
    stable_seconds: float = 60.0
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        s = cls(
            photos_root=Path(_env("PHOTOS_ROOT")).expanduser().resolve(),
            data_dir=Path(_env("DATA_DIR")).expanduser().resolve(),
            dsn=_env("DSN") or os.environ.get("DATABASE_URL", ""),
            detector=_env("DETECTOR"),
            embedder=_env("EMBEDDER"),
            clip_model_dir=_env("CLIP_MODEL_DIR"),
            max_image_pixels=int(_env("MAX_IMAGE_PIXELS")),
            max_work_side=int(_env("MAX_WORK_SIDE")),
            workers=int(_env("WORKERS")),
            stable_seconds=float(_env("STABLE_SECONDS")),
        )
        overrides = {k: v for k, v in overrides.items() if v is not None}
        for key in ("photos_root", "data_dir"):
            if key in overrides:
                overrides[key] = Path(overrides[key]).expanduser().resolve()
        return replace(s, **overrides)

    @property
    def crops_dir(self) -> Path:
        return self.data_dir / "crops"

    @property
    def stage_dir(self) -> Path:
        return self.data_dir / "stage"

    @property
    def embedded_pg_dir(self) -> Path:
        return self.data_dir / "pg"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    def worker_count(self) -> int:
        return self.workers if self.workers > 0 else (os.cpu_count() or 1)


def redact_dsn(dsn: str) -> str:
    """The DSN with its password replaced, safe for logs and metadata."""
    if not dsn:
        return dsn
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "<unparseable dsn>"
    if parts.password is None:
        out = dsn
    else:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
        out = urlunsplit(parts._replace(netloc=netloc))
    # key=value style DSNs ("host=... password=...")
    import re

    # The value may be quoted and hold spaces (password='a b'), or be a URL query parameter.
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)", r"\1***", out)


def make_private_dir(path: Path) -> Path:
    """Create a folder readable by the owner only: crops and stage files are photos of people.

    Missing parents are created owner-only too (`mkdir(parents=True)` would give them the umask's
    0755, so DATA_DIR/crops would list every event to every user of the machine).
    """
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
        pass
    return path
