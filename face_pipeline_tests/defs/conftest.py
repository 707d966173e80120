import pytest

from face_pipeline.defs.resources import FacePipeline


def pipeline_resource(settings, **overrides) -> FacePipeline:
    """The resource a run of these settings gets (workers 1 unless overridden)."""
    resource = FacePipeline.from_settings(settings.with_overrides(workers=1))
    values = {**resource.model_dump(), **overrides}
    return FacePipeline(**values)


@pytest.fixture
def instance():
    import dagster as dg

    with dg.DagsterInstance.ephemeral() as inst:
        yield inst
