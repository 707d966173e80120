import pytest

from face_pipeline.defs.resources import FacePipeline


def pipeline_resource(settings, **overrides) -> FacePipeline:
    values = dict(photos_root=str(settings.photos_root), data_dir=str(settings.data_dir), dsn=settings.dsn,
                  detector=settings.detector, embedder=settings.embedder, workers=1)
    values.update(overrides)
    return FacePipeline(**values)


@pytest.fixture
def instance():
    import dagster as dg

    with dg.DagsterInstance.ephemeral() as inst:
        yield inst
