"""Operating it the Dagster way: the new-folder sensor across ticks, incremental re-runs, a backfill
of several events, and re-embedding after a model change while lookups keep answering."""

import json
import os
import shutil
import time
from dataclasses import replace
from datetime import UTC, datetime

import dagster as dg
import pytest

from face_pipeline.cli import main as cli_main
from face_pipeline.definitions import ingest_assets
from face_pipeline.defs.ingest.sensors import new_event_folders
from face_pipeline.defs.maintenance.schedules import reembed_stale_events
from face_pipeline.lib.maintenance import prune_old_vectors
from face_pipeline.lib.models import get_embedder
from face_pipeline.lib.search import find_person
from face_pipeline.lib.settings import DEFAULT_DETECTOR, DEFAULT_EMBEDDER
from face_pipeline_tests.conftest import CELEB, lfw_photo, needs_datasets
from face_pipeline_tests.defs.conftest import pipeline_resource

PHOTOS = {
    "biden.jpg": "face_recognition/examples/knn_examples/train/biden/biden.jpg",
    "obama.jpg": "face_recognition/examples/knn_examples/train/obama/obama.jpg",
    "rose.jpg": "face_recognition/examples/knn_examples/train/rose_leslie/img1.jpg",
    "two_people.jpg": "face_recognition/examples/two_people.jpg",
}


def _put(root, event, name, age=600.0):
    target = root / event / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CELEB / PHOTOS[name], target)
    _age(target, age)
    return target


def _age(path, age):
    t = time.time() - age
    os.utime(path, (t, t))
    os.utime(path.parent, (t, t))


def _tick(instance, cursor, settings):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"pipeline": pipeline_resource(settings)})
    result = new_event_folders(ctx)
    # The daemon applies partition requests; do the same between ticks.
    for req in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    return result, result.cursor


@needs_datasets
def test_sensor_new_folder_new_photo_deleted_photo_half_copied_and_invalid(settings, instance, monkeypatch):
    root = settings.photos_root
    settings = settings.with_overrides(stable_seconds=60)
    _put(root, "offsite", "biden.jpg")
    _put(root, "copying", "obama.jpg", age=0)  # still being written
    _put(root, "Bad Name", "rose.jpg")

    r1, c1 = _tick(instance, None, settings)
    assert [(r.partition_key, r.run_key.split(":")[0]) for r in r1.run_requests] == [("offsite", "offsite")]
    assert [list(q.partition_keys) for q in r1.dynamic_partitions_requests] == [["offsite"]]
    assert set(json.loads(c1)) == {"offsite"}

    r2, c2 = _tick(instance, c1, settings)  # nothing changed: nothing requested twice
    assert r2.run_requests == [] and r2.dynamic_partitions_requests == []

    _put(root, "offsite", "rose.jpg")  # a new photo in a known event
    _age(root / "copying" / "obama.jpg", 600)  # the copy has finished
    r3, c3 = _tick(instance, c2, settings)
    assert sorted(r.partition_key for r in r3.run_requests) == ["copying", "offsite"]
    assert [list(q.partition_keys) for q in r3.dynamic_partitions_requests] == [["copying"]]
    assert instance.get_dynamic_partitions("events") == ["offsite", "copying"]
    offsite_key = next(r.run_key for r in r3.run_requests if r.partition_key == "offsite")
    assert offsite_key != r1.run_requests[0].run_key

    (root / "offsite" / "biden.jpg").unlink()  # a deleted photo
    _age(root / "offsite" / "rose.jpg", 600)
    r4, _ = _tick(instance, c3, settings)
    assert [r.partition_key for r in r4.run_requests] == ["offsite"]
    assert all(
        r.tags["face_pipeline/event"] == r.partition_key for r in [*r1.run_requests, *r3.run_requests, *r4.run_requests]
    )


def _materialize(instance, resource, event):
    if not instance.has_dynamic_partition("events", event):
        instance.add_dynamic_partitions("events", [event])
    result = dg.materialize(
        ingest_assets(resource.settings()), partition_key=event, instance=instance, resources={"pipeline": resource}
    )
    assert result.success
    mats = [e.step_materialization_data.materialization for e in result.get_asset_materialization_events()]
    return {m.asset_key.to_user_string(): {k: v.value for k, v in m.metadata.items()} for m in mats}


@needs_datasets
def test_incremental_rerun_embeds_only_the_new_photo_and_forgets_removed_ones(settings, store, instance):
    root = settings.photos_root
    for name in ("biden.jpg", "obama.jpg"):
        _put(root, "party", name)
    resource = pipeline_resource(settings)
    t0 = time.perf_counter()
    first = _materialize(instance, resource, "party")
    full_seconds = time.perf_counter() - t0
    assert first["face_embeddings"]["embedded"] == first["face_vectors"]["faces"] == 2

    _put(root, "party", "two_people.jpg")
    t0 = time.perf_counter()
    second = _materialize(instance, resource, "party")
    incremental_seconds = time.perf_counter() - t0
    assert second["event_photos"]["new"] == 1 and second["event_photos"]["unchanged"] == 2
    assert second["face_crops"]["photos_detected"] == 1 and second["face_crops"]["photos_reused"] == 2
    assert second["face_embeddings"]["embedded"] == 2 and second["face_embeddings"]["reused"] == 2
    assert second["face_vectors"]["vectors"] == 4
    print(f"full run {full_seconds:.2f}s, incremental run {incremental_seconds:.2f}s")

    (root / "party" / "obama.jpg").unlink()
    third = _materialize(instance, resource, "party")
    assert third["event_photos"]["removed"] == 1
    assert third["face_vectors"]["photos_removed"] == 1 and third["face_vectors"]["vectors"] == 3
    assert store.counts() == {"photos": 2, "faces": 3, "face_vectors": 3, "skipped_files": 0}
    crops = list((settings.crops_dir / "party").rglob("*.png"))
    assert len(crops) == 3  # the removed photo's crop is gone too


@needs_datasets
def test_backfill_of_several_events_through_the_cli_on_a_postgres_dagster_instance(
    settings, store, monkeypatch, capsys
):
    root = settings.photos_root
    _put(root, "day-1", "biden.jpg")
    _put(root, "day-2", "obama.jpg")
    _put(root, "day-3", "rose.jpg")
    for k, v in {"PHOTOS_ROOT": root, "DATA_DIR": settings.data_dir, "DSN": settings.dsn, "WORKERS": 1}.items():
        monkeypatch.setenv(f"FACE_PIPELINE_{k}", str(v))
    # A missing event fails alone: the others are materialised.
    assert cli_main(["backfill", "day-1", "day-2", "ghost", "day-3"]) == 1
    out = capsys.readouterr()
    assert "3 event(s) done, 1 failed ['ghost']" in out.out
    assert "ghost does not exist" in out.err
    assert {r["event"] for r in store.event_summaries()} == {"day-1", "day-2", "day-3"}
    # The runs are recorded in Dagster's own storage (PostgreSQL through dagster-postgres).
    inst = dg.DagsterInstance.get()
    try:
        assert type(inst.run_storage).__name__ == "PostgresRunStorage"
        runs = inst.get_runs(filters=dg.RunsFilter(tags={"face_pipeline/trigger": "backfill"}))
        assert sorted(r.tags["face_pipeline/event"] for r in runs if r.status == dg.DagsterRunStatus.SUCCESS)[-3:] == [
            "day-1",
            "day-2",
            "day-3",
        ]
    finally:
        inst.dispose()


@needs_datasets
def test_model_switch_schedule_requests_only_stale_events_and_lookups_answer_throughout(
    settings, store, instance, tmp_path, monkeypatch
):
    root = settings.photos_root
    _put(root, "alpha", "biden.jpg")
    _put(root, "alpha", "obama.jpg")
    _put(root, "beta", "two_people.jpg")
    # Before the switch: the previous defaults (face_recognition's dlib models); after it, this
    # release's defaults (RetinaFace + FaceNet): the change every existing user's events go through.
    old = replace(settings, detector="dlib-hog", embedder="dlib-resnet-v1")
    _materialize(instance, pipeline_resource(old), "alpha")
    _materialize(instance, pipeline_resource(old), "beta")
    reference = lfw_photo("Joseph_Biden", 1)
    # Three photos give query expansion nothing to learn from: use the customary 0.6 cut-off.
    before = find_person(old, store, reference, threshold=0.6)
    assert {m.path for m in before.matches} == {"biden.jpg", "two_people.jpg"}

    new = pipeline_resource(settings, detector=DEFAULT_DETECTOR, embedder=DEFAULT_EMBEDDER)
    new_id = get_embedder(DEFAULT_EMBEDDER).model_id
    when = datetime(2026, 11, 25, 3, 15, tzinfo=UTC)

    def schedule_requests():
        ctx = dg.build_schedule_context(instance=instance, resources={"pipeline": new}, scheduled_execution_time=when)
        return reembed_stale_events(ctx)

    requests = schedule_requests()
    assert [r.partition_key for r in requests] == ["alpha", "beta"]
    assert all(new_id in r.run_key for r in requests)

    _materialize(instance, new, "alpha")
    assert store.serving_models() == {"alpha": new_id, "beta": "dlib-resnet-v1"}
    # Mid-switch, lookups answer from both: alpha with its new vectors (at FaceNet's threshold),
    # beta with its old ones (as before the switch).
    during = find_person(new.settings(), store, reference)
    assert set(during.models) == {new_id, "dlib-resnet-v1"}
    assert {(m.event, m.path) for m in during.matches if m.event == "alpha"} == {("alpha", "biden.jpg")}
    during_beta = find_person(new.settings(), store, reference, threshold=0.6, events=["beta"])
    assert during_beta.models == {"dlib-resnet-v1": ["beta"]} and [m.path for m in during_beta.matches] == [
        "two_people.jpg"
    ]
    assert [r.partition_key for r in schedule_requests()] == ["beta"]

    _materialize(instance, new, "beta")
    assert isinstance(schedule_requests(), dg.SkipReason)
    after = find_person(new.settings(), store, reference)
    assert set(after.models) == {new_id}
    assert {(m.event, m.path) for m in after.matches} == {("alpha", "biden.jpg"), ("beta", "two_people.jpg")}
    assert prune_old_vectors(new.settings(), store) == {"dlib-resnet-v1": 4}  # 1 + 1 + 2 faces
    with store.connect() as conn:
        models = {r[0] for r in conn.execute("SELECT DISTINCT model_id FROM face_vectors")}
    assert models == {new_id}


def test_invalid_partition_names_never_reach_dagster(settings, instance):
    (settings.photos_root / "a,b").mkdir()
    (settings.photos_root / "a,b" / "x.jpg").write_bytes(b"x")
    _age(settings.photos_root / "a,b" / "x.jpg", 600)
    result, _ = _tick(instance, None, settings)
    assert result.run_requests == [] and instance.get_dynamic_partitions("events") == []


pytestmark = pytest.mark.filterwarnings("ignore")
