"""The CLI against the real embedded database: the same answers as the library, clear errors."""

import pytest

from face_pipeline.cli import main
from face_pipeline_tests.conftest import lfw_photo, needs_datasets


@pytest.fixture
def cli_env(settings, monkeypatch):
    monkeypatch.setenv("FACE_PIPELINE_PHOTOS_ROOT", str(settings.photos_root))
    monkeypatch.setenv("FACE_PIPELINE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FACE_PIPELINE_DSN", settings.dsn)
    monkeypatch.setenv("FACE_PIPELINE_WORKERS", "1")
    return settings


@needs_datasets
def test_cli_ingest_find_events_status(cli_env, celeb_settings, store, capsys):
    assert main(["ingest", "celeb"]) == 0
    out = capsys.readouterr().out
    assert "27 photos (27 new" in out
    html = cli_env.data_dir / "out.html"
    assert main(["find", str(lfw_photo("Joseph_Biden", 1)), "-k", "10", "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert "biden2.jpg" in out and "4 photo(s)" in out and html.is_file()
    assert main(["events"]) == 0
    assert "celeb" in capsys.readouterr().out
    assert main(["db", "status"]) == 0
    out = capsys.readouterr().out
    assert "003_hnsw_indexes.sql" in out and "face_vectors" in out


def test_cli_errors_are_one_clear_line(cli_env, store, capsys, tmp_path):
    assert main(["ingest", "Bad,Name"]) == 2
    assert "invalid event name" in capsys.readouterr().err
    assert main(["ingest", "nothere"]) == 1  # per-event failure: reported, other events go on
    assert "nothere does not exist" in capsys.readouterr().err
    assert main(["find", str(tmp_path / "missing.jpg")]) == 2
    assert "no face vectors yet" in capsys.readouterr().err
    assert main(["delete-event", "../etc", "--yes"]) == 2
    assert "paths are not allowed" in capsys.readouterr().err
