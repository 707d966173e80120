"""The one resource: the pipeline's settings, and the vector store they point at."""


import os

import dagster as dg

from face_pipeline.lib.settings import ENV_PREFIX, Settings
from face_pipeline.lib.store import VectorStore


class FacePipeline(dg.ConfigurableResource):
    """Photos root, data folder, database and active models. Defaults come from the
    FACE_PIPELINE_* environment variables (see README, "Settings"); the DSN is read from the
    environment at run time so its password never shows in the UI or in run config."""

    photos_root: str
    data_dir: str
    dsn: str = ""
    detector: str = "dlib-hog"
    embedder: str = "dlib-resnet-v1"
    workers: int = 0

    def settings(self) -> Settings:
        return Settings.from_env(
            photos_root=self.photos_root, data_dir=self.data_dir, dsn=self.dsn or None,
            detector=self.detector, embedder=self.embedder, workers=self.workers or None,
        )

    def store(self) -> VectorStore:
        store = VectorStore.from_settings(self.settings())
        store.migrate()
        return store


def pipeline_resource_from_env() -> FacePipeline:
    s = Settings.from_env()
    dsn = dg.EnvVar(ENV_PREFIX + "DSN") if os.environ.get(ENV_PREFIX + "DSN") else ""
    return FacePipeline(
        photos_root=str(s.photos_root), data_dir=str(s.data_dir), dsn=dsn,
        detector=s.detector, embedder=s.embedder, workers=s.workers,
    )
