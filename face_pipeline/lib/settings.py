"""One home for every setting: a frozen, validated dataclass whose fields are the declaration.

Each field of `Settings` carries its default and meaning (`setting(...)`); everything else is
derived from it: the FACE_PIPELINE_* variable names (`VARIABLES`), the CLI's global flags
(cli/main.py), the Dagster resource's fields (defs/resources.py) and the README's "Settings" table
(`settings_table()`, which a test compares with the README). Adding a setting is one field here.

A process reads its settings once (`Settings.from_env`: FACE_PIPELINE_* variables, then the CLI's
flags as overrides) and passes the object down. The Dagster code location builds its definitions and
its one resource from that same object, and a run builds its Settings from the resource's fields
(`FacePipeline.settings()`), so no module reads the environment on its own and none does at import
time. Invalid values are a `ConfigError` with one line that names the variable and what to do,
raised before any work starts.
"""

from __future__ import annotations

import os
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from face_pipeline.lib.errors import ConfigError
from face_pipeline.lib.models.inference import DEVICES
from face_pipeline.lib.models.registry import DETECTORS, EMBEDDERS, ModelFolders
from face_pipeline.lib.models.weights import default_model_dir
from face_pipeline.lib.storage import is_remote, parse_location

ENV_PREFIX = "FACE_PIPELINE_"

# Chosen by the evaluation harness among the models whose licence lets a company use them for its own
# photos (EVALUATION.md): detection on WIDER and the demo photos, identity on LFW, synthetic events,
# real scenes and the demo, speed in BENCHMARKS.md. Issue 24 moved from retinaface-mnet025-rot3 +
# facenet-v1-flip (both still selectable, their ids unchanged) to the same models with the turned
# passes only where the upright pass shows a turned face, and FaceNet's int8 copy: the same quality
# within 0.005, less than half the detection time, ~400 MiB less memory per worker.
DEFAULT_DETECTOR = "retinaface-mnet025-autorot"
DEFAULT_EMBEDDER = "facenet-v1-flip-int8"

EXECUTORS = ("multiprocess", "celery")


def setting(default: object, meaning: str, *, shown: str | None = None, secret: bool = False):
    """A Settings field. `meaning` is the line of --help and of the README table; `shown` is how the
    table shows the default when its bare value would not say enough; `secret` marks a value that may
    hold a password (the Dagster resource then refers to its variable instead of copying it)."""
    return field(default=default, metadata={"meaning": meaning, "shown": shown, "secret": secret})


@dataclass(frozen=True)
class Settings:
    photos_root: Path = setting(
        Path("./photos"),
        "one sub-folder per event (`<root>/<event>/...`); a folder or an object-store URL (`s3://bucket/photos`)",
        shown="`./photos` (demo: `data/photos`)",
    )
    data_dir: Path = setting(
        Path("./data"),
        "crops and stage files (a folder or an object-store URL), the embedded PostgreSQL, "
        "reports (those stay local: in `~/.local/state/face_pipeline` when this is a URL)",
        shown="`./data`",
    )
    dsn: str = setting(
        "",
        "PostgreSQL to use (`postgresql://user:pass@host/db`)",
        shown="empty = embedded server in DATA_DIR/pg",
        secret=True,
    )
    dagster_pg_url: str = setting(
        "",
        "Dagster's own storage (`postgresql+psycopg2://…`)",
        shown="empty = database `dagster` on the same server",
        secret=True,
    )
    detector: str = setting(DEFAULT_DETECTOR, "face detector (`face-pipeline models` lists them)")
    embedder: str = setting(DEFAULT_EMBEDDER, "identity model (`face-pipeline models` lists them)")
    model_dir: str = setting(
        "",
        "installed weight files (`face-pipeline models install`)",
        shown="empty = `<venv>/share/face_pipeline/models`",
    )
    clip_model_dir: str = setting(
        "", "local `patch32_v1.onnx` + CLIP `preprocessor_config.json` for `clip-imgbeddings` (offline)"
    )
    max_image_pixels: int = setting(120_000_000, "larger images are refused (decompression bombs)")
    max_work_side: int = setting(
        2400,
        "photos are downscaled to this longest side for detection and crops "
        "(a JPEG to between 0.8x and 1x of it, at the nearest fast decoding scale)",
    )
    workers: int = setting(
        0,
        "processes for detection and embedding; neighbour queries at once in `people recluster`",
        shown="`0` = one per core",
    )
    device: str = setting(
        "cpu",
        "where the ONNX models run: `cpu`, or `cuda` (ONNX Runtime's CUDA provider: `pip install "
        "face_pipeline[gpu]`; without it, a warning and the CPU)",
    )
    stable_seconds: float = setting(60.0, "the sensor waits until an event folder is unchanged this long (seconds)")
    event_lock_wait: float = setting(
        1800.0, "seconds a second ingest of the same event waits, then fails with a clear message"
    )
    executor: str = setting(
        "multiprocess",
        "how a Dagster run executes its steps: `multiprocess` (this machine) or `celery` "
        "(workers on any machine, `face-pipeline worker`)",
    )
    celery_broker: str = setting(
        "redis://127.0.0.1:6379/0",
        "with the celery executor: the broker (and result backend) URL the runs and the workers share",
        secret=True,
    )
    celery_redeliver_after: float = setting(
        3600.0,
        "with the celery executor: seconds after which a step taken by a worker that vanished goes "
        "to another worker (above the longest step)",
    )

    public_url: str = setting(
        "http://127.0.0.1:8080",
        "the address participants open: share links and their QR codes start with it "
        "(`face-pipeline serve` listens there)",
    )
    dagster_ui_url: str = setting(
        "http://127.0.0.1:3000",
        "where the Dagster UI answers (`face-pipeline ui`): the people page links into its Launchpad",
    )
    upload_max_bytes: int = setting(
        20_000_000, "the participant page refuses larger selfies (HTTP 413); pixels are limited by MAX_IMAGE_PIXELS"
    )
    lookups_per_minute_per_link: int = setting(
        120, "participant page: searches per minute through one share link (over it: HTTP 429)"
    )
    lookups_per_minute_per_client: int = setting(
        20, "participant page: searches per minute from one client address (over it: HTTP 429)"
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Settings from FACE_PIPELINE_* variables, then `overrides` (None means "not given"),
        validated. Raises ConfigError naming the first bad value."""
        environ = os.environ if environ is None else environ
        raw: dict[str, object] = {v.field: environ.get(v.env_name, v.default_text) for v in VARIABLES}
        if not raw["dsn"] and environ.get("DATABASE_URL"):
            raw["dsn"] = environ["DATABASE_URL"]
        raw.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_values(raw)

    @classmethod
    def from_values(cls, raw: Mapping[str, object]) -> Settings:
        """Settings from plain values (strings from the environment, or typed values from a Dagster
        resource), converted and validated."""
        unknown = set(raw) - {v.field for v in VARIABLES}
        if unknown:
            raise ConfigError(f"unknown setting(s) {sorted(unknown)}")
        return cls(**{v.field: v.convert(raw[v.field]) for v in VARIABLES if v.field in raw}).validated()

    def validated(self) -> Settings:
        """This object, after checking what can be checked without doing any work."""
        if self.detector not in DETECTORS:
            raise ConfigError(
                f"{_env('detector')}={self.detector!r} is not a detector; choose one of "
                f"{sorted(DETECTORS)} (`face-pipeline models` lists them)"
            )
        if self.embedder not in EMBEDDERS:
            raise ConfigError(
                f"{_env('embedder')}={self.embedder!r} is not an embedder; choose one of "
                f"{sorted(EMBEDDERS)} (`face-pipeline models` lists them)"
            )
        if self.dsn:
            check_dsn(self.dsn)
        for name in ("photos_root", "data_dir"):
            path: Path = getattr(self, name)
            if not is_remote(path) and path.exists() and not path.is_dir():
                raise ConfigError(f"{_env(name)}={path} is a file, not a folder")
        if not is_remote(self.data_dir) and self.data_dir.is_dir() and not os.access(self.data_dir, os.W_OK | os.X_OK):
            raise ConfigError(f"{_env('data_dir')}={self.data_dir} is not writable by this user")
        if self.device not in DEVICES:
            raise ConfigError(f"{_env('device')}={self.device!r} is not a device; choose one of {list(DEVICES)}")
        if self.executor not in EXECUTORS:
            raise ConfigError(
                f"{_env('executor')}={self.executor!r} is not an executor; choose one of {list(EXECUTORS)}"
            )
        if self.executor == "celery" and "://" not in self.celery_broker:
            raise ConfigError(
                f"{_env('celery_broker')}={self.celery_broker!r} is not a broker URL (redis://host:6379/0)"
            )
        for name in ("public_url", "dagster_ui_url"):
            if not re.match(r"^https?://[^/\s]+(/\S*)?$", getattr(self, name)):
                raise ConfigError(
                    f"{_env(name)}={getattr(self, name)!r} is not an http(s) address (https://photos.example.org)"
                )
        for name, low in (
            ("max_image_pixels", 1),
            ("max_work_side", 64),
            ("workers", 0),
            ("stable_seconds", 0),
            ("event_lock_wait", 0),
            ("celery_redeliver_after", 1),
            ("upload_max_bytes", 1024),
            ("lookups_per_minute_per_link", 1),
            ("lookups_per_minute_per_client", 1),
        ):
            if getattr(self, name) < low:
                raise ConfigError(f"{_env(name)} must be at least {low}, got {getattr(self, name)}")
        return self

    def with_overrides(self, **overrides) -> Settings:
        """A copy with some fields replaced (None means "keep"), validated again."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if not given:
            return self
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        return Settings.from_values({**current, **given})

    def as_environ(self) -> dict[str, str]:
        """The variables that give a child process (Dagster's code server, a worker) these settings."""
        return {v.env_name: v.text(getattr(self, v.field)) for v in VARIABLES}

    @property
    def model_folders(self) -> ModelFolders:
        """Where the models' files are, and the device they run on."""
        model_dir = Path(self.model_dir).expanduser().resolve() if self.model_dir else default_model_dir()
        return ModelFolders(model_dir, self.clip_model_dir, self.device)

    @property
    def crops_dir(self) -> Path:
        return self.data_dir / "crops"

    @property
    def stage_dir(self) -> Path:
        return self.data_dir / "stage"

    @property
    def local_dir(self) -> Path:
        """What must stay on this machine's disk (the embedded PostgreSQL, Dagster's instance
        folder, the reports a person opens): the data folder, or when that is an object-store URL,
        this user's state folder."""
        if not is_remote(self.data_dir):
            return self.data_dir
        state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
        return Path(state) / "face_pipeline"

    @property
    def embedded_pg_dir(self) -> Path:
        return self.local_dir / "pg"

    @property
    def reports_dir(self) -> Path:
        return self.local_dir / "reports"

    @property
    def dagster_dir(self) -> Path:
        """Dagster's instance folder (DAGSTER_HOME), artifacts and compute logs."""
        return self.local_dir / "dagster"

    def worker_count(self) -> int:
        return self.workers if self.workers > 0 else (os.cpu_count() or 1)


@dataclass(frozen=True)
class Variable:
    """One setting as the outside sees it: a field of Settings, its FACE_PIPELINE_* variable, its
    CLI flag, its default and its meaning, all read from the field's declaration."""

    field: str
    kind: type  # Path, str, int or float: what the field holds
    default: object
    meaning: str
    shown: str | None
    secret: bool

    @property
    def env_name(self) -> str:
        return _env(self.field)

    @property
    def flag(self) -> str:
        return "--" + self.field.replace("_", "-")

    @property
    def default_text(self) -> str:
        return self.text(self.default)

    @property
    def shown_default(self) -> str:
        """The default as the README table and --help show it."""
        return self.shown or (f"`{self.default_text}`" if self.default_text else "empty")

    def text(self, value: object) -> str:
        """A value as its environment variable holds it."""
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    def convert(self, value: object) -> object:
        """A value from the environment, a flag or a resource, as the field's type (ConfigError if not)."""
        if self.kind is Path:
            return _path(self.field, value)
        if self.kind in (int, float):
            return _number(self.kind)(self.field, value)
        return _text(self.field, value)


def _variables() -> tuple[Variable, ...]:
    hints = typing.get_type_hints(Settings)
    return tuple(
        Variable(f.name, hints[f.name], f.default, f.metadata["meaning"], f.metadata["shown"], f.metadata["secret"])
        for f in fields(Settings)
    )


#: Every setting, in declaration order: the environment, the CLI, the Dagster resource and the README read it.
VARIABLES: tuple[Variable, ...] = _variables()


def settings_table() -> str:
    """The README's "Settings" table, rendered from the declaration."""
    rows = [f"| `{v.env_name}` | {v.shown_default} | {v.meaning} |" for v in VARIABLES]
    return "\n".join(["| variable | default | meaning |", "|---|---|---|", *rows]) + "\n"


def _env(field: str) -> str:
    return ENV_PREFIX + field.upper()


def _text(name: str, value: object) -> str:
    return str(value).strip()


def _path(name: str, value: object) -> Path:
    text = str(value).strip()
    if not text:
        raise ConfigError(f"{_env(name)} is empty; give a folder")
    return parse_location(text, setting=_env(name))


def _number(kind: Callable[[str], object]) -> Callable[[str, object], object]:
    def convert(name: str, value: object):
        try:
            return kind(str(value).strip())
        except ValueError:
            raise ConfigError(
                f"{_env(name)} must be {'an integer' if kind is int else 'a number'}, got {value!r}"
            ) from None

    return convert


def check_dsn(dsn: str) -> str:
    """A DSN libpq can parse (URL or key=value form), else ConfigError without the password."""
    import psycopg

    if "://" in dsn and not dsn.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            f"{_env('dsn')}={redact_dsn(dsn)!r} is not a PostgreSQL URL; "
            "use postgresql://user:password@host:5432/dbname"
        )
    try:
        psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(
            f"{_env('dsn')}={redact_dsn(dsn)!r} can not be parsed "
            f"({redact_dsn(str(exc).strip())}); use postgresql://user:password@host:5432/dbname"
        ) from None
    return dsn


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
    # key=value style DSNs ("host=... password=..."): the value may be quoted and hold spaces
    # (password='a b'), or be a URL query parameter.
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)", r"\1***", out)
