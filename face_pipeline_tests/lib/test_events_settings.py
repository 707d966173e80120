import pytest

from face_pipeline.lib.errors import UserError
from face_pipeline.lib.photos.events import (
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
    with pytest.raises(UserError, match="does not exist"):
        event_folder(tmp_path, "nothere")
    with pytest.raises(UserError, match="photos root"):
        event_folder(tmp_path / "missing-root", "crabweek")


def test_redact_dsn_hides_passwords():
    assert redact_dsn("postgresql://alice:s3cret@db.example/app") == "postgresql://alice:***@db.example/app"
    assert "s3cret" not in redact_dsn("host=db user=alice password=s3cret dbname=app")
    assert (
        redact_dsn("postgresql://postgres:@/face_pipeline?host=/tmp/x")
        == "postgresql://postgres:***@/face_pipeline?host=/tmp/x"
    )


def test_settings_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FACE_PIPELINE_PHOTOS_ROOT", str(tmp_path / "p"))
    monkeypatch.setenv("FACE_PIPELINE_DETECTOR", "haar")
    monkeypatch.setenv("FACE_PIPELINE_WORKERS", "3")
    s = Settings.from_env(data_dir=tmp_path / "d")
    assert s.photos_root == (tmp_path / "p").resolve()
    assert s.data_dir == (tmp_path / "d").resolve()
    assert s.detector == "haar" and s.worker_count() == 3
    assert s.crops_dir == s.data_dir / "crops"


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("FACE_PIPELINE_DETECTOR", "retinanet-9000", "is not a detector"),
        ("FACE_PIPELINE_EMBEDDER", "nope", "is not an embedder"),
        ("FACE_PIPELINE_DSN", "mysql://root:hunter2@db/app", "is not a PostgreSQL URL"),
        ("FACE_PIPELINE_DSN", "host=db password='hunter2", "can not be parsed"),
        ("FACE_PIPELINE_DSN", "postgresql://u:hunter2@db/app?sslmod=require", "can not be parsed"),
        ("FACE_PIPELINE_WORKERS", "two", "must be an integer"),
        ("FACE_PIPELINE_MAX_WORK_SIDE", "10", "must be at least 64"),
        ("FACE_PIPELINE_DEVICE", "gpu", "is not a device; choose one of ['cpu', 'cuda']"),
    ],
)
def test_bad_settings_are_one_line_and_exit_code_2_before_any_work(
    monkeypatch, tmp_path, capsys, variable, value, message
):
    from face_pipeline.cli import main

    data = tmp_path / "data"
    monkeypatch.setenv("FACE_PIPELINE_DATA_DIR", str(data))
    monkeypatch.setenv("FACE_PIPELINE_PHOTOS_ROOT", str(tmp_path))
    monkeypatch.setenv(variable, value)
    assert main(["ingest"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1
    assert "hunter2" not in err  # a password never reaches the terminal
    assert not data.exists()  # nothing started: no database, no stage files


def test_a_file_where_a_folder_belongs_is_a_configuration_error(monkeypatch, tmp_path, capsys):
    from face_pipeline.cli import main

    (tmp_path / "photos.txt").write_text("not a folder")
    monkeypatch.setenv("FACE_PIPELINE_DATA_DIR", str(tmp_path / "data"))
    assert main(["--photos-root", str(tmp_path / "photos.txt"), "events"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_no_module_reads_settings_at_import_time(tmp_path):
    """Every module imports under settings that could not be used; only building the code location
    (which reads them once) refuses them, with the configuration error."""
    import subprocess
    import sys

    code = (
        "import importlib, pkgutil, face_pipeline\n"
        "for m in pkgutil.walk_packages(face_pipeline.__path__, 'face_pipeline.'):\n"
        "    if '__main__' not in m.name: importlib.import_module(m.name)\n"
        "from face_pipeline.definitions import defs\n"
        "from face_pipeline.lib.errors import ConfigError\n"
        "try:\n    defs()\nexcept ConfigError as exc:\n    print('refused:', exc)\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "FACE_PIPELINE_DETECTOR": "bogus",
        "FACE_PIPELINE_EVENT_LOCK_WAIT": "soon",
        "FACE_PIPELINE_DATA_DIR": str(tmp_path),
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (
        "refused: FACE_PIPELINE_EVENT_LOCK_WAIT must be a number" in out.stdout
        or "refused: FACE_PIPELINE_DETECTOR='bogus' is not a detector" in out.stdout
    )


def test_the_readme_settings_table_is_the_one_the_declaration_renders():
    """The README's settings table is the users' reference: exactly what `settings_table()` renders
    from the fields of Settings (regenerate it with that function after adding a setting)."""
    from pathlib import Path

    from face_pipeline.lib.settings import VARIABLES, settings_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = [line for line in readme.splitlines() if line.startswith("| `FACE_PIPELINE_")]
    assert "\n".join(table) + "\n" == "".join(settings_table().splitlines(keepends=True)[2:])
    assert settings_table() in readme
    assert [line.split("|")[1].strip(" `") for line in table] == [v.env_name for v in VARIABLES]
    assert any("`120000000`" in line for line in table)  # defaults come from the fields' values


def test_every_setting_has_a_variable_a_flag_and_a_resource_field(tmp_path):
    """One declaration: each field of Settings is read from its variable, overridden by its global
    flag, carried by the Dagster resource's field of the same name, and handed back to a run."""
    from dataclasses import fields

    from face_pipeline.cli.main import build_parser, settings_from
    from face_pipeline.defs.resources import FacePipeline
    from face_pipeline.lib.settings import VARIABLES

    assert [v.field for v in VARIABLES] == [f.name for f in fields(Settings)]
    base = Settings.from_env({})
    # A value of each setting unlike its default, as text (what the environment and flags hold).
    other = {
        "photos_root": str(tmp_path / "p"),
        "data_dir": str(tmp_path / "d"),
        "dsn": "postgresql://u@db/app",
        "dagster_pg_url": "postgresql+psycopg2://u@db/dagster",
        "detector": "haar",
        "embedder": "dlib-resnet-v1",
        "model_dir": str(tmp_path / "m"),
        "clip_model_dir": str(tmp_path / "c"),
        "executor": "celery",
        "celery_broker": "redis://q:6379/1",
        "device": "cuda",
        "public_url": "https://photos.example.org",
        "dagster_ui_url": "https://dagster.example.org",
    }
    values = {v.field: other.get(v.field) or v.text(getattr(base, v.field) * 2 + 1) for v in VARIABLES}
    from_env = Settings.from_env({v.env_name: values[v.field] for v in VARIABLES})
    argv = [part for v in VARIABLES for part in (v.flag, values[v.field])] + ["events"]
    from_flags = settings_from(build_parser().parse_args(argv))
    for v in VARIABLES:
        assert getattr(from_env, v.field) != getattr(base, v.field), v.env_name
    assert from_flags == from_env
    assert Settings.from_env(from_env.as_environ()) == from_env
    resource = FacePipeline.from_settings(from_env)
    assert set(FacePipeline.model_fields) == {v.field for v in VARIABLES}
    assert resource.settings() == from_env


def test_a_password_setting_taken_from_its_variable_stays_a_reference_in_the_resource(monkeypatch, tmp_path):
    import dagster as dg

    from face_pipeline.defs.resources import FacePipeline

    monkeypatch.setenv("FACE_PIPELINE_DSN", "postgresql://u:hunter2@db/app")
    monkeypatch.setenv("FACE_PIPELINE_DAGSTER_PG_URL", "postgresql+psycopg2://u:hunter3@db/dagster")
    monkeypatch.setenv("FACE_PIPELINE_DATA_DIR", str(tmp_path))
    resource = FacePipeline.from_settings(Settings.from_env())
    assert isinstance(resource.dsn, dg.EnvVar) and resource.dsn == "FACE_PIPELINE_DSN"
    assert isinstance(resource.dagster_pg_url, dg.EnvVar)
    assert not isinstance(resource.data_dir, dg.EnvVar)  # not a password: the value itself
    assert "hunter" not in repr(resource)
    # A run resolves the reference and gets the value.
    assert resource.process_config_and_initialize().settings().dsn == "postgresql://u:hunter2@db/app"
    given = FacePipeline.from_settings(Settings.from_env(dsn="postgresql://u@other/app"))
    assert given.dsn == "postgresql://u@other/app"  # given on the command line: no variable to name
