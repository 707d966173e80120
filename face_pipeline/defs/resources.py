"""The one resource: the pipeline's settings, and the vector store they point at.

Its fields are the only source of settings inside a run: `settings()` builds the library's Settings
from them alone (validated), never from the environment. The code location makes it from the same
Settings object that gives the assets their code versions (definitions.py).
"""

import os

import dagster as dg

from face_pipeline.lib.errors import ConfigError
from face_pipeline.lib.settings import ENV_PREFIX, Settings
from face_pipeline.lib.store import VectorStore


class FacePipeline(dg.ConfigurableResource):
    """Photos root, data folder, database and active models (README, "Settings"). The DSN is an
    EnvVar when it comes from FACE_PIPELINE_DSN, so its password never shows in the UI or run config."""

    photos_root: str
    data_dir: str
    dsn: str = ""
    detector: str
    embedder: str
    model_dir: str = ""
    clip_model_dir: str = ""
    max_image_pixels: int
    max_work_side: int
    workers: int = 0
    stable_seconds: float
    event_lock_wait: float

    @classmethod
    def from_settings(cls, settings: Settings) -> "FacePipeline":
        # The DSN goes in as a reference to the variable that holds it, when one does.
        from_env = settings.dsn and os.environ.get(ENV_PREFIX + "DSN") == settings.dsn
        dsn = dg.EnvVar(ENV_PREFIX + "DSN") if from_env else settings.dsn
        return cls(
            photos_root=str(settings.photos_root), data_dir=str(settings.data_dir), dsn=dsn,
            detector=settings.detector, embedder=settings.embedder, model_dir=settings.model_dir,
            clip_model_dir=settings.clip_model_dir,
            max_image_pixels=settings.max_image_pixels, max_work_side=settings.max_work_side,
            workers=settings.workers, stable_seconds=settings.stable_seconds,
            event_lock_wait=settings.event_lock_wait,
        )

    def settings(self) -> Settings:
        try:
            return Settings.from_values({
                "photos_root": self.photos_root, "data_dir": self.data_dir, "dsn": self.dsn,
                "detector": self.detector, "embedder": self.embedder, "model_dir": self.model_dir,
                "clip_model_dir": self.clip_model_dir,
                "max_image_pixels": self.max_image_pixels, "max_work_side": self.max_work_side,
                "workers": self.workers, "stable_seconds": self.stable_seconds,
                "event_lock_wait": self.event_lock_wait,
            })
        except ConfigError as exc:
            raise dg.Failure(description=f"invalid setting in the `pipeline` resource: {exc}") from exc

    def store(self) -> VectorStore:
        store = VectorStore.from_settings(self.settings())
        store.migrate()
        return store
