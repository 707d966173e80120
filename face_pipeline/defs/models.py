"""The active models' ids: they are the assets' code versions, so a model change marks the
face_crops / face_embeddings assets of every event as stale in the UI."""


from face_pipeline.lib.detectors import get_detector
from face_pipeline.lib.embedders import get_embedder
from face_pipeline.lib.ingest import crop_kind_of
from face_pipeline.lib.settings import Settings


def detector_code_version(settings: Settings) -> str:
    return f"{get_detector(settings.detector).model_id}+{crop_kind_of(settings.embedder)}"


def embedder_code_version(settings: Settings) -> str:
    try:
        return get_embedder(settings.embedder).model_id
    except Exception as exc:  # a missing model must not stop the code location from loading
        return f"{settings.embedder}-unavailable:{type(exc).__name__}"
