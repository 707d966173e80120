import pytest

from face_pipeline.lib.events import (
    EventFolderMissing,
    InvalidEventName,
    event_folder,
    list_event_folders,
    validate_event_name,
)
from face_pipeline.lib.settings import Settings, redact_dsn


@pytest.mark.parametrize("name", ["crabweek", "offsite-2026", "a", "wedding_anna_ben", "9lives"])
def test_valid_event_names(name):
    assert validate_event_name(name) == name


@pytest.mark.parametrize(
    "name, hint",
    [
        ("", "empty"),
        ("CrabWeek", "did you mean 'crabweek'"),
        ("../etc", "paths are not allowed"),
        ("a/b", "paths are not allowed"),
        ("a,b", "lower-case letters"),
        ("x'; DROP TABLE photos;--", "lower-case letters"),
        ("-leading-dash", "starting with a letter or digit"),
        ("x" * 64, "1-63"),
    ],
)
def test_invalid_event_names_say_why(name, hint):
    with pytest.raises(InvalidEventName, match="invalid event name|empty") as exc:
        validate_event_name(name)
    assert hint in str(exc.value)


def test_event_folders_listing_and_missing(tmp_path):
    (tmp_path / "crabweek").mkdir()
    (tmp_path / "Bad Name").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "file.jpg").write_bytes(b"x")
    assert list_event_folders(tmp_path) == (["crabweek"], ["Bad Name"])
    assert event_folder(tmp_path, "crabweek") == tmp_path / "crabweek"
    with pytest.raises(EventFolderMissing, match="does not exist"):
        event_folder(tmp_path, "nothere")
    with pytest.raises(EventFolderMissing, match="photos root"):
        event_folder(tmp_path / "missing-root", "crabweek")


def test_redact_dsn_hides_passwords():
    assert redact_dsn("postgresql://alice:s3cret@db.example/app") == "postgresql://alice:***@db.example/app"
    assert "s3cret" not in redact_dsn("host=db user=alice password=s3cret dbname=app")
    assert redact_dsn("postgresql://postgres:@/face_pipeline?host=/tmp/x") == "postgresql://postgres:***@/face_pipeline?host=/tmp/x"


def test_settings_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FACE_PIPELINE_PHOTOS_ROOT", str(tmp_path / "p"))
    monkeypatch.setenv("FACE_PIPELINE_DETECTOR", "haar")
    monkeypatch.setenv("FACE_PIPELINE_WORKERS", "3")
    s = Settings.from_env(data_dir=tmp_path / "d")
    assert s.photos_root == (tmp_path / "p").resolve()
    assert s.data_dir == (tmp_path / "d").resolve()
    assert s.detector == "haar" and s.worker_count() == 3
    assert s.crops_dir == s.data_dir / "crops"
