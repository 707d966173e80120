"""The active models' ids are the code versions of face_crops and face_embeddings, so a model
change marks those assets of every event as stale in the UI. Both come from the one Settings object
the code location was built from, and are read from the models' catalogue cards: loading the code
location reads no weight file and opens no ONNX session. A run whose resource names other models is
refused, instead of writing faces under a code version that does not describe them."""

from collections.abc import Callable

import dagster as dg

from face_pipeline.defs.partitions import CPU_POOL, EVENT_ASSET
from face_pipeline.defs.resources import FacePipeline
from face_pipeline.lib.models import (
    ModelFilesMissing,
    crop_kind_of,
    detector_model_id,
    embedder_model_id,
)
from face_pipeline.lib.settings import Settings


def detector_code_version(settings: Settings) -> str:
    return f"{detector_model_id(settings.detector)}+{crop_kind_of(settings.embedder)}"


def embedder_code_version(settings: Settings) -> str:
    try:
        return embedder_model_id(settings.embedder, settings.model_folders)
    except ModelFilesMissing:  # CLIP without its folder: the code location still loads, the run says why
        return f"{settings.embedder}-not-installed"


def require_same_models(asset: str, version_of_run: str, version_of_definition: str) -> None:
    """Fail the step when the run's resource names other models than the asset's code version."""
    if version_of_run != version_of_definition:
        raise dg.Failure(
            description=f"{asset} is defined for models {version_of_definition!r} but this run's `pipeline` "
            f"resource asks for {version_of_run!r}. Change FACE_PIPELINE_DETECTOR / FACE_PIPELINE_EMBEDDER "
            "and reload the code location instead of overriding the models in the run config."
        )


def model_versioned_asset(settings: Settings, code_version_of: Callable[[Settings], str], **asset_args):
    """Decorate `body(context, settings) -> MaterializeResult` into an event asset whose code version
    is `code_version_of(settings)`, that refuses a run whose resource names other models, and that runs
    in the CPU pool (each such step already uses every core)."""
    code_version = code_version_of(settings)

    def decorate(body: Callable[[dg.AssetExecutionContext, Settings], dg.MaterializeResult]) -> dg.AssetsDefinition:
        @dg.asset(name=body.__name__, **EVENT_ASSET, pool=CPU_POOL, code_version=code_version, **asset_args)
        def asset(context: dg.AssetExecutionContext, pipeline: FacePipeline) -> dg.MaterializeResult:
            run_settings = pipeline.settings()
            require_same_models(body.__name__, code_version_of(run_settings), code_version)
            return body(context, run_settings)

        return asset

    return decorate
