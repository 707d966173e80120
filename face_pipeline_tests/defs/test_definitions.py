import dagster as dg

from face_pipeline.definitions import defs
from face_pipeline.defs.partitions import events_partitions


def test_definitions_load_with_the_asset_graph_jobs_sensor_and_schedule():
    d = defs()
    graph = d.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {"event_photos", "face_crops", "face_embeddings", "face_vectors"}
    deps = {k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys} for k in graph.get_all_asset_keys()}
    assert deps == {"event_photos": set(), "face_crops": {"event_photos"},
                    "face_embeddings": {"face_crops"}, "face_vectors": {"face_embeddings"}}
    for key in graph.get_all_asset_keys():
        assert graph.get(key).partitions_def == events_partitions
    assert isinstance(events_partitions, dg.DynamicPartitionsDefinition) and events_partitions.name == "events"
    assert {j.name for j in d.resolve_all_job_defs()} >= {"ingest_event", "find_person_job"}
    assert [s.name for s in d.sensors] == ["new_event_folders"]
    assert [s.name for s in d.schedules] == ["reembed_stale_events"]
    # The active models' ids are the code versions, so a model change shows as stale in the UI.
    assert graph.get(dg.AssetKey("face_embeddings")).code_version == "dlib-resnet-v1"
    assert graph.get(dg.AssetKey("face_crops")).code_version.startswith("dlib-hog-up")
    d.resolve_implicit_global_asset_job_def()
