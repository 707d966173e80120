"""The assets materialise through `materialize(...)` on an ephemeral instance, the lookup job runs
with config, and a second materialisation changes no ids and no counts."""

import dagster as dg
import pytest

from face_pipeline.definitions import ingest_assets
from face_pipeline.defs.ingest.assets import event_photos
from face_pipeline.defs.lookup.jobs import find_person_job
from face_pipeline.defs.vectors.checks import serving_vectors_complete
from face_pipeline.lib.search import find_person
from face_pipeline.lib.settings import DEFAULT_EMBEDDER
from face_pipeline_tests.conftest import lfw_photo, needs_datasets
from face_pipeline_tests.defs.conftest import pipeline_resource


def _materialize(instance, settings, event):
    if not instance.has_dynamic_partition("events", event):
        instance.add_dynamic_partitions("events", [event])
    return dg.materialize(
        ingest_assets(settings),
        partition_key=event,
        instance=instance,
        resources={"pipeline": pipeline_resource(settings)},
    )


def _metadata(result, asset):
    [mat] = [m for m in result.asset_materializations_for_node(asset)]
    return {k: v.value for k, v in mat.metadata.items()}


@needs_datasets
def test_materialize_celeb_event_twice_then_find_person_job(celeb_settings, store, instance):
    first = _materialize(instance, celeb_settings, "celeb")
    assert first.success
    photos = _metadata(first, "event_photos")
    crops = _metadata(first, "face_crops")
    vectors = _metadata(first, "face_vectors")
    assert photos["photos"] == 27 and photos["new"] == 27 and photos["skipped_files"] == 0
    assert crops["faces"] == vectors["faces"] == vectors["vectors"] >= 40
    assert crops["faces_preview"].startswith("![faces](data:image/jpeg;base64,")
    assert vectors["model_id"] == DEFAULT_EMBEDDER == "facenet-v1-flip-int8"  # the shipped default
    assert all(c.passed for c in first.get_asset_check_evaluations())
    with store.connect() as conn:
        ids_before = sorted(r[0] for r in conn.execute("SELECT face_id FROM face_vectors"))

    second = _materialize(instance, celeb_settings, "celeb")
    assert second.success
    assert _metadata(second, "event_photos")["unchanged"] == 27
    assert _metadata(second, "face_crops")["photos_reused"] == 27
    assert _metadata(second, "face_embeddings")["embedded"] == 0
    with store.connect() as conn:
        ids_after = sorted(r[0] for r in conn.execute("SELECT face_id FROM face_vectors"))
    assert ids_after == ids_before
    assert store.counts()["faces"] == crops["faces"]

    check = serving_vectors_complete(pipeline_resource(celeb_settings))
    assert check.passed

    reference = str(lfw_photo("Joseph_Biden", 1))
    run = find_person_job.execute_in_process(
        instance=instance,
        resources={"pipeline": pipeline_resource(celeb_settings)},
        run_config={"ops": {"find_photos": {"config": {"reference_images": [reference], "k": 10}}}},
    )
    assert run.success
    job_result = run.output_for_node("find_photos", "result")
    lib_result = find_person(celeb_settings, store, reference, k=10)
    assert [(m.path, round(m.distance, 5)) for m in job_result.matches] == [
        (m.path, round(m.distance, 5)) for m in lib_result.matches
    ]
    [report_mat] = [e for e in run.all_events if e.event_type_value == "STEP_OUTPUT" and e.step_key == "report_matches"]
    assert report_mat is not None
    assert (celeb_settings.reports_dir / "find_person.html").is_file()

    # enrol / expand reach the library through the job's config: two references, nearest one,
    # no second search; same answers as the library call with the same choices.
    refs = [str(lfw_photo("Joseph_Biden", 1)), str(lfw_photo("Joseph_Biden", 3))]
    run2 = find_person_job.execute_in_process(
        instance=instance,
        resources={"pipeline": pipeline_resource(celeb_settings)},
        run_config={
            "ops": {"find_photos": {"config": {"reference_images": refs, "k": 10, "enrol": "min", "expand": False}}}
        },
    )
    assert run2.success
    lib_min = find_person(celeb_settings, store, refs, k=10, enrol="min", expand=False)
    lib_mean = find_person(celeb_settings, store, refs, k=10)
    job_min = run2.output_for_node("find_photos", "result")
    assert [(m.path, round(m.distance, 5)) for m in job_min.matches] == [
        (m.path, round(m.distance, 5)) for m in lib_min.matches
    ]
    assert [round(m.distance, 5) for m in lib_min.matches] != [round(m.distance, 5) for m in lib_mean.matches]

    # Forgetting reaches Dagster's records: the runs whose metadata show these faces.
    from face_pipeline.defs.history import delete_runs, runs_showing

    biden = {(m.event, m.path) for m in lib_result.matches}
    shown = runs_showing(instance, photos=biden)  # the lookups that listed them, the event's previews
    assert {(r.kind, r.run_id) for r in shown} == {
        ("lookup", run.run_id),
        ("lookup", run2.run_id),
        ("ingest", first.run_id),
        ("ingest", second.run_id),
    }
    assert runs_showing(instance, photos={("other-event", "not-a-photo.jpg")}) == []
    assert {r.kind for r in runs_showing(instance, photos={("celeb", "not-listed.jpg")})} == {"ingest"}
    of_event = runs_showing(instance, events={"celeb"})
    assert {r.run_id for r in of_event if r.kind == "ingest"} == {first.run_id, second.run_id}
    assert {r.run_id for r in of_event if r.kind == "lookup"} == {run.run_id, run2.run_id}
    assert delete_runs(instance, of_event) == 4
    assert instance.get_run_by_id(first.run_id) is None and instance.get_run_by_id(run.run_id) is None
    assert runs_showing(instance, events={"celeb"}) == []


@needs_datasets
def test_find_person_job_fails_clearly_on_an_empty_database(settings, store, instance, tmp_path):
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 200), (120, 160, 200)).save(blank)
    run = find_person_job.execute_in_process(
        instance=instance,
        resources={"pipeline": pipeline_resource(settings)},
        raise_on_error=False,
        run_config={"ops": {"find_photos": {"config": {"reference_images": [str(blank)]}}}},
    )
    assert not run.success
    failure = run.failure_data_for_node("find_photos")
    # The one lookup checks the database before decoding the picture (as `face-pipeline find`);
    # a picture without a face against stored vectors: test_one_path.py.
    assert "ingest an event first" in failure.user_failure_data.description


def test_event_photos_fails_clearly_for_a_missing_folder(settings, store, instance):
    instance.add_dynamic_partitions("events", ["ghost"])
    with pytest.raises(Exception, match="event folder .*ghost does not exist"):
        dg.materialize(
            [event_photos],
            partition_key="ghost",
            instance=instance,
            resources={"pipeline": pipeline_resource(settings)},
        )
