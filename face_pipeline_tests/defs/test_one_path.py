"""One path for each job: the CLI's `find`, the `find_person_job` and the library's `lookup` are
one lookup (same request, same photos, field by field); the CLI's `ingest` and the Dagster
ingest_event assets leave the same database, people included. On the shipped demo photos, so
these run on a bare clone too."""

from __future__ import annotations

import argparse
import dataclasses
import shutil

import dagster as dg
import pytest
from PIL import Image

from face_pipeline.cli import main
from face_pipeline.cli.commands import find as find_command
from face_pipeline.definitions import ingest_assets
from face_pipeline.defs.lookup.jobs import FindPersonConfig, find_person_job
from face_pipeline.lib.bundled_files import demo_dir
from face_pipeline.lib.report import matches_text
from face_pipeline.lib.search import LookupRequest, UnanswerableLookup, lookup
from face_pipeline.lib.settings import Settings
from face_pipeline_tests.conftest import empty_tables
from face_pipeline_tests.defs.conftest import pipeline_resource

EVENTS = ("event_a_iss_2000_2001", "event_b_iss_2009_2014")
#: Columns that say when, not what: they differ between any two runs.
WHEN = {"ingested_at", "completed_at", "seen_at", "created_at", "updated_at"}
TABLES = {
    "photos": "event, photo_id",
    "faces": "face_id",
    "face_vectors": "face_id, model_id",
    "event_models": "event, model_id",
    "skipped_files": "event, path",
    "people": "person_id",
    "face_people": "face_id",
}


def _with_demo_photos(settings: Settings) -> Settings:
    for event in EVENTS:
        shutil.copytree(demo_dir() / "photos" / event, settings.photos_root / event)
    return settings


def _database(store) -> dict[str, list[tuple]]:
    out = {}
    with store.connect() as conn:
        for table, order in TABLES.items():
            cur = conn.execute(f"SELECT * FROM {table} ORDER BY {order}")  # noqa: S608 (names above)
            keep = [i for i, d in enumerate(cur.description) if d.name not in WHEN]
            out[table] = [tuple(str(row[i]) for i in keep) for row in cur.fetchall()]
    return out


@pytest.fixture
def demo_env(cli_env) -> Settings:
    """The CLI's settings with the shipped demo events in the photos root."""
    return _with_demo_photos(cli_env)


def test_cli_ingest_and_dagster_ingest_leave_the_same_database(demo_env, store, instance, tmp_path, capsys):
    assert main(["ingest", *EVENTS]) == 0
    out = capsys.readouterr().out
    assert "people (" in out  # the CLI's summary reports the people step it ran
    by_cli = _database(store)
    assert by_cli["people"] and by_cli["face_people"], "the CLI ingest grouped no face into people"

    empty_tables(store)
    # A fresh data folder: the Dagster run detects and embeds again instead of reusing stage files.
    dagster = Settings.from_env(
        photos_root=demo_env.photos_root, data_dir=tmp_path / "data_dagster", dsn=demo_env.dsn, workers=1
    )
    for event in EVENTS:
        instance.add_dynamic_partitions("events", [event])
        res = dg.materialize(
            ingest_assets(dagster),
            partition_key=event,
            instance=instance,
            resources={"pipeline": pipeline_resource(dagster)},
        )
        assert res.success
    by_dagster = _database(store)
    for table in TABLES:
        assert by_dagster[table] == by_cli[table], f"table {table} differs between the two ingests"
    assert len(by_cli["photos"]) == 25 and len(by_cli["face_vectors"]) == len(by_cli["faces"]) > 50


def _cli_request(argv: list[str]) -> LookupRequest:
    parser = argparse.ArgumentParser()
    find_command.add_commands(parser.add_subparsers())
    return find_command.lookup_request(parser.parse_args(argv))


def test_every_lookup_option_is_on_the_cli_and_in_the_job_config():
    config_fields = set(FindPersonConfig.model_fields)
    names = {"references": "reference_images"}  # the config's name for a list of paths
    for name in LookupRequest.field_names():
        assert names.get(name, name) in config_fields, f"find_person_job has no config for {name}"
    full = [
        "find",
        "me.jpg",
        "--with-person-photos",
        "-k",
        "7",
        "--threshold",
        "0.5",
        "--event",
        "a",
        "--event",
        "b",
        "--model",
        "m",
        "--face-index",
        "1",
        "--enrol",
        "min",
        "--no-expand",
        "--confirmed-face",
        "f1",
        "--confirmed-face",
        "f2",
        "--candidates",
        "4",
    ]
    cli = _cli_request(full)
    job = FindPersonConfig(
        reference_images=["me.jpg"],
        with_person_photos=True,
        k=7,
        threshold=0.5,
        events=["a", "b"],
        model_id="m",
        face_index=1,
        enrol="min",
        expand=False,
        confirmed_faces=["f1", "f2"],
        candidates=4,
    )
    assert cli == job.lookup_request()
    # every field set away from its default by the flags above, so none is silently dropped
    default = LookupRequest()
    assert [f for f in LookupRequest.field_names() if getattr(cli, f) == getattr(default, f)] == ["person"]
    assert _cli_request(["find", "--person", "Ann"]).person == "Ann"


def test_cli_job_and_library_give_the_same_photos(demo_env, store, instance, capsys):
    assert main(["ingest", *EVENTS]) == 0
    capsys.readouterr()
    reference = str(demo_dir() / "reference" / "mastracchio_portrait.jpg")
    argv = ["find", reference, "-k", "20", "--with-person-photos", "--no-html"]
    request = _cli_request(argv)
    library = lookup(demo_env, store, request)
    assert len(library.matches) == 3 and library.person  # Mastracchio's three demo photos, one person

    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == matches_text(library).strip()

    run = find_person_job.execute_in_process(
        instance=instance,
        resources={"pipeline": pipeline_resource(demo_env)},
        run_config={
            "ops": {"find_photos": {"config": {"reference_images": [reference], "k": 20, "with_person_photos": True}}}
        },
    )
    assert run.success
    job = run.output_for_node("find_photos", "result")
    for field in ("threshold", "models", "faces_considered", "person", "person_name"):
        assert getattr(job, field) == getattr(library, field), field
    assert [dataclasses.astuple(m) for m in job.matches] == [dataclasses.astuple(m) for m in library.matches]

    # by person: the same through all three
    by_name = lookup(demo_env, store, LookupRequest(person=library.person, k=20))
    run = find_person_job.execute_in_process(
        instance=instance,
        resources={"pipeline": pipeline_resource(demo_env)},
        run_config={"ops": {"find_photos": {"config": {"person": library.person, "k": 20}}}},
    )
    assert [dataclasses.astuple(m) for m in run.output_for_node("find_photos", "result").matches] == [
        dataclasses.astuple(m) for m in by_name.matches
    ]
    assert main(["find", "--person", library.person, "-k", "20", "--no-html"]) == 0
    assert capsys.readouterr().out.strip() == matches_text(by_name).strip()

    # a picture without a face: the same clear refusal from the job as from the library
    blank = demo_env.data_dir / "blank.png"
    Image.new("RGB", (200, 200), (120, 160, 200)).save(blank)
    run = find_person_job.execute_in_process(
        instance=instance,
        resources={"pipeline": pipeline_resource(demo_env)},
        raise_on_error=False,
        run_config={"ops": {"find_photos": {"config": {"reference_images": [str(blank)]}}}},
    )
    assert not run.success
    assert "no face found" in run.failure_data_for_node("find_photos").user_failure_data.description
    with pytest.raises(UnanswerableLookup, match="no face found"):
        lookup(demo_env, store, LookupRequest(references=(str(blank),)))
