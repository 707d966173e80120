"""Photos and data in an object store: the same library code on `s3://` URLs as on local folders.

An S3 server runs in this process (moto's, on a local port); the code path is s3fs over HTTP, the
one a real S3 bucket takes. Credentials and the endpoint come from the store's own configuration
(AWS_* variables, FSSPEC_S3_ENDPOINT_URL), as a deployment sets them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from upath import UPath

from face_pipeline.lib.errors import ConfigError, UserError
from face_pipeline.lib.forget import forget_event
from face_pipeline.lib.ingest import load_embeddings, load_faces, scan_event
from face_pipeline.lib.photos.events import event_folder, list_event_folders
from face_pipeline.lib.photos.files import scan_event_folder
from face_pipeline.lib.photos.watch import folder_state, plan_changes
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.storage import is_remote, parse_location
from face_pipeline_tests.conftest import lfw_photo, needs_datasets
from face_pipeline_tests.lib.reliability_inputs import event_rows, ingest_event

BUCKET = "storage-test"


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    """A fresh bucket, and the variables an S3 client reads."""
    import fsspec

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("FSSPEC_S3_ENDPOINT_URL", s3_endpoint)
    fsspec.config.set_conf_env(fsspec.config.conf)  # fsspec reads FSSPEC_* once, at import
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    if fs.exists(BUCKET):
        fs.rm(BUCKET, recursive=True)
    fs.mkdir(BUCKET)
    yield fs
    fsspec.config.conf.pop("s3", None)


def _put(fs, key: str, source: Path | bytes) -> None:
    fs.pipe(f"{BUCKET}/{key}", source if isinstance(source, bytes) else source.read_bytes())


def test_locations_are_paths_or_urls(tmp_path, monkeypatch):
    assert parse_location(str(tmp_path)) == tmp_path and not is_remote(parse_location(str(tmp_path)))
    assert parse_location(f"file://{tmp_path}") == tmp_path
    remote = parse_location("s3://bucket/photos/")
    assert isinstance(remote, UPath) and is_remote(remote) and str(remote) == "s3://bucket/photos"
    with pytest.raises(ConfigError, match="FACE_PIPELINE_PHOTOS_ROOT=nosuch://x: nosuch:// is not usable"):
        Settings.from_env(photos_root="nosuch://x", data_dir=tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    s = Settings.from_env(photos_root="s3://b/photos", data_dir="s3://b/data")
    assert is_remote(s.photos_root) and is_remote(s.stage_dir) and str(s.crops_dir) == "s3://b/data/crops"
    # what must stay on this machine (embedded PostgreSQL, Dagster's folder, reports) does
    assert s.embedded_pg_dir == tmp_path / "state" / "face_pipeline" / "pg"
    assert Settings.from_env(environ=s.as_environ()) == s  # what a worker process is given


def test_listing_scanning_and_fingerprints_on_object_listings(s3):
    _put(s3, "photos/gala/a.jpg", b"\xff\xd8 one")
    _put(s3, "photos/gala/day2/b.jpg", b"\xff\xd8 two")
    _put(s3, "photos/gala/notes.txt", b"hello")
    _put(s3, "photos/gala/.hidden.jpg", b"x")
    _put(s3, "photos/Bad Name/c.jpg", b"x")
    root = parse_location(f"s3://{BUCKET}/photos")
    assert list_event_folders(root) == (["gala"], ["Bad Name"])
    with pytest.raises(UserError):
        event_folder(root, "nothere")
    photos, skipped = scan_event_folder(event_folder(root, "gala"))
    assert [(p.relpath, p.size_bytes) for p in photos] == [("a.jpg", 6), ("day2/b.jpg", 6)]
    assert [(s.relpath, s.reason) for s in skipped] == [("notes.txt", "not_an_image")]
    assert photos[0].path.read_bytes() == b"\xff\xd8 one"

    before = folder_state(root / "gala")
    assert before.files == 3
    _put(s3, "photos/gala/a.jpg", b"\xff\xd8 ONE")  # same size, same second: the ETag tells
    after = folder_state(root / "gala")
    assert after.fingerprint != before.fingerprint
    changes = plan_changes(root, {"gala": before.fingerprint}, now=after.newest_mtime + 120, stable_seconds=60)
    assert changes.changed_events == ["gala"] and changes.invalid_names == ["Bad Name"]
    assert plan_changes(root, {"gala": before.fingerprint}, now=after.newest_mtime + 1, stable_seconds=60).waiting == [
        "gala"
    ]  # just uploaded: wait until it settles


@needs_datasets
def test_ingest_and_forget_with_photos_and_data_in_s3(s3, pg_dsn, store, tmp_path):
    photos = [lfw_photo("Venus_Williams", 1), lfw_photo("Joseph_Biden", 1)]
    for p in photos:
        _put(s3, f"photos/gala/{p.name}", p)
    remote = Settings.from_env(
        photos_root=f"s3://{BUCKET}/photos", data_dir=f"s3://{BUCKET}/data", dsn=pg_dsn, workers=1
    )
    *_, summary = ingest_event(remote, store, "gala")
    assert summary.photos == 2 and summary.faces == 2
    faces = load_faces(remote, "gala").faces
    assert all(s3.exists(f"{BUCKET}/data/{f.crop_path}") for f in faces)
    assert {Path(k).name for k in s3.ls(f"{BUCKET}/data/stage/gala")} == {
        "photos.json",
        "faces.json",
        "vectors.npz",
        "detect-vectors.npz",
    }
    remote_rows = event_rows(store, "gala")
    remote_vectors = load_embeddings(remote, "gala").vectors

    # The same photos from a local folder: the same rows and vectors.
    (tmp_path / "photos" / "local").mkdir(parents=True)
    for p in photos:
        shutil.copy(p, tmp_path / "photos" / "local" / p.name)
    local = Settings.from_env(photos_root=tmp_path / "photos", data_dir=tmp_path / "data", dsn=pg_dsn, workers=1)
    ingest_event(local, store, "local")
    assert {p for _, p, _ in event_rows(store, "local")["photos"]} == {p for _, p, _ in remote_rows["photos"]}
    np.testing.assert_allclose(load_embeddings(local, "local").vectors, remote_vectors, atol=1e-6)

    # A second run reuses what is in the bucket: nothing detected or embedded again.
    manifest = scan_event(remote, "gala")
    assert manifest.unchanged == 2 and manifest.new == 0
    *_, again = ingest_event(remote, store, "gala")
    assert again.photos == 2

    result = forget_event(remote, store, "gala")
    assert result.crop_files == 2 and result.stage_files == 4  # detect-vectors.npz too
    s3.invalidate_cache()  # this client listed the folders earlier
    assert not s3.exists(f"{BUCKET}/data/crops/gala") and not s3.exists(f"{BUCKET}/data/stage/gala")
    assert s3.exists(f"{BUCKET}/photos/gala/{photos[0].name}")  # photos are never touched
