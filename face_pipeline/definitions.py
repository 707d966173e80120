"""The Dagster code location: every definition under face_pipeline/defs/, built from one Settings.

The settings are read once, when Dagster loads the code location, and passed down: the assets whose
code version is a model id are built from them, and so is the one resource that every run reads
its settings from. (A module-level `@dg.asset(code_version=...)` would have to read the
environment at import time, and could then disagree with the resource a run is given.)
"""

import dagster as dg

from face_pipeline.defs.embeddings.assets import build_face_embeddings
from face_pipeline.defs.executors import build_executor
from face_pipeline.defs.faces.assets import build_face_crops
from face_pipeline.defs.ingest.assets import event_photos
from face_pipeline.defs.ingest.jobs import ingest_event_job
from face_pipeline.defs.ingest.sensors import new_event_folders
from face_pipeline.defs.lookup.jobs import find_person_job
from face_pipeline.defs.maintenance.schedules import reembed_stale_events
from face_pipeline.defs.people.assets import people
from face_pipeline.defs.people.jobs import manage_people
from face_pipeline.defs.resources import FacePipeline
from face_pipeline.defs.share.jobs import share_links_job
from face_pipeline.defs.vectors.assets import face_vectors
from face_pipeline.defs.vectors.checks import serving_vectors_complete
from face_pipeline.lib.settings import Settings


def ingest_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    """event_photos -> face_crops -> face_embeddings -> face_vectors -> people, for the models `settings` select."""
    return [event_photos, build_face_crops(settings), build_face_embeddings(settings), face_vectors, people]


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=ingest_assets(settings),
        asset_checks=[serving_vectors_complete],
        jobs=[ingest_event_job, find_person_job, manage_people, share_links_job],
        sensors=[new_event_folders],
        schedules=[reembed_stale_events],
        resources={"pipeline": FacePipeline.from_settings(settings)},
        executor=build_executor(settings),
    )


def ingest_event_for_workers() -> dg.JobDefinition:
    """The ingest_event job as a distributed executor rebuilds it in each worker process
    (`dg.reconstructable(ingest_event_for_workers)`), from the worker's own settings."""
    return build_definitions(Settings.from_env()).resolve_job_def("ingest_event")


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(Settings.from_env())
