"""Shared test fixtures: one real embedded PostgreSQL + pgvector for the session, real photos from
../shared/datasets (skipped with a reason when absent), fresh settings per test."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from face_pipeline.lib.settings import Settings
from face_pipeline.lib.store import VectorStore

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACE_PIPELINE_SHARED", REPO.parent / "shared"))
DATASETS = SHARED / "datasets"
CELEB = DATASETS / "celeb_scenes_dev"
LFW = DATASETS / "lfw_deepfunneled_subset"
WIDER = DATASETS / "wider_face_val_groups"

needs_datasets = pytest.mark.skipif(
    not CELEB.is_dir() or not LFW.is_dir(),
    reason=f"real photos not found at {DATASETS} (set FACE_PIPELINE_SHARED to the shared/ folder)",
)


def lfw_photo(identity: str, n: int = 1) -> Path:
    return LFW / "images" / identity / f"{identity}_{n:04d}.jpg"


def celeb_labels() -> dict[str, set[str]]:
    """relative path inside celeb_scenes_dev -> identities present."""
    import csv

    with open(CELEB / "labels.csv", newline="") as fh:
        return {row["path"]: set(row["identities_present"].split(";")) for row in csv.DictReader(fh)}


def copy_celeb_scenes(dest: Path) -> Path:
    """The 27 labelled scenes as one event folder (copied to a temp dir, never into the repo)."""
    dest.mkdir(parents=True, exist_ok=True)
    for rel in celeb_labels():
        src = CELEB / rel
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    return dest


@pytest.fixture(autouse=True)
def _restore_environment():
    """The CLI exports settings into os.environ for Dagster's processes; undo that after each test."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """A real PostgreSQL with pgvector, started by the tests (embedded, Unix socket only)."""
    from face_pipeline.lib.store import embedded_postgres

    # Not under pytest's tmp dir: as root, pgserver runs PostgreSQL as a `pgserver` user, which
    # must be able to traverse the parent folders (pytest's are private to root).
    parent = Path(tempfile.mkdtemp(prefix="face_pipeline_test_pg_"))
    parent.chmod(0o755)
    server = embedded_postgres.start(parent / "data")
    yield server
    embedded_postgres.stop(parent / "data")
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_dsn(pg_server) -> str:
    from face_pipeline.lib.store import embedded_postgres

    return embedded_postgres.app_dsn(pg_server)


@pytest.fixture
def store(pg_dsn) -> VectorStore:
    """The migrated application database, emptied before each test."""
    s = VectorStore(pg_dsn)
    s.migrate()
    empty_tables(s)
    return s


def empty_tables(store: VectorStore) -> None:
    """Every application table emptied (the schema and the migrations' record stay)."""
    with store.connect() as conn:
        conn.execute(
            "TRUNCATE photos, faces, face_vectors, event_models, skipped_files, face_people, people, share_links CASCADE"
        )
        conn.commit()


@pytest.fixture
def settings(tmp_path, pg_dsn) -> Settings:
    photos = tmp_path / "photos"
    photos.mkdir()
    return Settings.from_env(photos_root=photos, data_dir=tmp_path / "data", dsn=pg_dsn, workers=1)


@pytest.fixture
def cli_env(settings, monkeypatch) -> Settings:
    """`settings` exported as the FACE_PIPELINE_* variables that the CLI (cli.main) reads."""
    monkeypatch.setenv("FACE_PIPELINE_PHOTOS_ROOT", str(settings.photos_root))
    monkeypatch.setenv("FACE_PIPELINE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FACE_PIPELINE_DSN", settings.dsn)
    monkeypatch.setenv("FACE_PIPELINE_WORKERS", "1")
    return settings


@pytest.fixture
def onnx_sessions(monkeypatch) -> list[str]:
    """The model files of every ONNX Runtime session opened during the test, in a process whose
    registry has built no model yet (as a code server or CLI process that just started)."""
    import onnxruntime

    from face_pipeline.lib.models import get_detector, get_embedder

    opened: list[str] = []
    real_session = onnxruntime.InferenceSession

    class CountedSession(real_session):
        def __init__(self, path, *args, **kwargs):
            opened.append(str(path))
            super().__init__(path, *args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", CountedSession)
    get_detector.cache_clear()
    get_embedder.cache_clear()
    return opened


@pytest.fixture
def celeb_settings(settings) -> Settings:
    """Settings whose photos root holds the celeb scenes as the event `celeb`."""
    if not CELEB.is_dir():
        pytest.skip(f"real photos not found at {CELEB}")
    copy_celeb_scenes(settings.photos_root / "celeb")
    return settings
