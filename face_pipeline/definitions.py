"""The Dagster code location: everything under face_pipeline/defs/, plus the one resource."""

from pathlib import Path

import dagster as dg

from face_pipeline.defs.resources import pipeline_resource_from_env


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(resources={"pipeline": pipeline_resource_from_env()}),
    )
