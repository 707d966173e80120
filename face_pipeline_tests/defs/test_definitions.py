import dagster as dg

from face_pipeline.definitions import defs
from face_pipeline.defs.partitions import events_partitions


def test_definitions_load_with_the_asset_graph_jobs_sensor_and_schedule():
    d = defs()
    graph = d.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {"event_photos", "face_crops", "face_embeddings", "face_vectors", "people"}
    deps = {
        k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys} for k in graph.get_all_asset_keys()
    }
    assert deps == {
        "event_photos": set(),
        "face_crops": {"event_photos"},
        "face_embeddings": {"face_crops"},
        "face_vectors": {"face_embeddings"},
        "people": {"face_vectors"},
    }
    for key in graph.get_all_asset_keys():
        assert graph.get(key).partitions_def == events_partitions
    assert isinstance(events_partitions, dg.DynamicPartitionsDefinition) and events_partitions.name == "events"
    assert {j.name for j in d.resolve_all_job_defs()} >= {"ingest_event", "find_person_job", "manage_people"}
    assert [s.name for s in d.sensors] == ["new_event_folders"]
    assert [s.name for s in d.schedules] == ["reembed_stale_events"]
    # The active models' ids are the code versions, so a model change shows as stale in the UI.
    assert graph.get(dg.AssetKey("face_embeddings")).code_version == "facenet-v1-flip-int8"
    assert graph.get(dg.AssetKey("face_crops")).code_version.startswith(
        "retinaface-mnet025-v1-s1024-t0.6-nms0.4+rot123-s640"
    )
    d.resolve_implicit_global_asset_job_def()


def test_code_versions_and_the_resource_come_from_one_settings_object(settings):
    from dataclasses import replace

    from face_pipeline.definitions import build_definitions

    flip = replace(settings, embedder="dlib-resnet-v1-flip", detector="dlib-hog-plus")
    d = build_definitions(flip)
    graph = d.resolve_asset_graph()
    assert graph.get(dg.AssetKey("face_embeddings")).code_version == "dlib-resnet-v1-flip"
    assert graph.get(dg.AssetKey("face_crops")).code_version.startswith("dlib-hog-up1-rot")
    resource = d.resources["pipeline"]
    assert (resource.detector, resource.embedder) == ("dlib-hog-plus", "dlib-resnet-v1-flip")
    assert resource.settings() == flip


def test_a_run_whose_resource_names_other_models_is_refused(settings, instance):
    from face_pipeline.definitions import ingest_assets
    from face_pipeline_tests.defs.conftest import pipeline_resource

    (settings.photos_root / "gala").mkdir()
    instance.add_dynamic_partitions("events", ["gala"])
    face_crops = ingest_assets(settings)[1]
    other = pipeline_resource(settings, detector="haar")
    result = dg.materialize(
        [face_crops], partition_key="gala", instance=instance, resources={"pipeline": other}, raise_on_error=False
    )
    assert not result.success
    message = result.failure_data_for_node("face_crops").user_failure_data.description
    assert "is defined for models" in message and "haar" in message


def test_loading_the_definitions_and_ticking_the_schedule_and_sensor_open_no_onnx_session(
    settings, store, instance, onnx_sessions
):
    """A Dagster code server loads these definitions, and the daemon ticks the schedule and the sensor,
    all day long: model ids come from the catalogue's cards, and no ONNX session is opened for them
    (each one holds a network's weights in memory, ~100 MB for FaceNet)."""
    from datetime import UTC, datetime

    import numpy as np

    from face_pipeline.definitions import build_definitions
    from face_pipeline.defs.ingest.sensors import new_event_folders
    from face_pipeline.defs.maintenance.schedules import reembed_stale_events
    from face_pipeline.lib.settings import DEFAULT_DETECTOR, DEFAULT_EMBEDDER
    from face_pipeline.lib.store.records import EventWrite
    from face_pipeline_tests.defs.conftest import pipeline_resource

    assert (settings.detector, settings.embedder) == (DEFAULT_DETECTOR, DEFAULT_EMBEDDER)  # both ONNX models
    d = build_definitions(settings)
    d.resolve_asset_graph()
    d.resolve_all_job_defs()
    defs()
    # An event embedded by the previous defaults: the tick asks the active model ids and requests it.
    store.replace_event(EventWrite("old", "dlib-hog-up1", "dlib-resnet-v1", [], [], np.zeros((0, 128), np.float32)))
    resource = pipeline_resource(settings)
    tick = reembed_stale_events(
        dg.build_schedule_context(
            instance=instance,
            resources={"pipeline": resource},
            scheduled_execution_time=datetime(2026, 12, 1, 3, 15, tzinfo=UTC),
        )
    )
    sensed = new_event_folders(dg.build_sensor_context(instance=instance, resources={"pipeline": resource}))

    assert [r.partition_key for r in tick] == ["old"]
    assert "facenet-v1-flip-int8" in tick[0].run_key and "retinaface-mnet025-v1-s1024" in tick[0].run_key
    assert sensed.run_requests == []
    assert onnx_sessions == [], f"ONNX sessions opened while loading definitions and ticking: {onnx_sessions}"
