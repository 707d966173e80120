"""Model changes: which events need re-embedding, and removing old vectors (an explicit step)."""

from __future__ import annotations

from face_pipeline.lib.models import (
    detector_model_id,
    embedder_model_id,
    get_detector,
    get_embedder,
)
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.store import VectorStore


def load_active_models(settings: Settings) -> None:
    """Build the selected detector and embedder now, checking their files, so that a missing or
    damaged model file is reported once, before any event is touched (ModelFilesMissing names the
    command that fixes it). Their weights are read on first use."""
    get_detector(settings.detector, settings.model_folders)
    get_embedder(settings.embedder, settings.model_folders)


def active_model_ids(settings: Settings) -> tuple[str, str]:
    """(embedder model_id, detector model_id) of the active settings, from the models' cards (a
    schedule tick asks this: it builds no model)."""
    return embedder_model_id(settings.embedder, settings.model_folders), detector_model_id(settings.detector)


def stale_events(settings: Settings, store: VectorStore) -> list[str]:
    """Events whose serving vectors were not made by the active detector and embedder."""
    model_id, detector_model = active_model_ids(settings)
    return store.stale_events(model_id, detector_model)


def prune_old_vectors(settings: Settings, store: VectorStore, model_id: str | None = None) -> dict[str, int]:
    """Delete vectors of models that no event serves from any more (all old models by default).

    Never silent: the CLI's `prune-models` lists what it would delete unless --yes is given.
    """
    active, _ = active_model_ids(settings)
    targets = [model_id] if model_id else store.other_models(active)
    return {m: store.prune_model(m) for m in targets}


def old_vector_counts(settings: Settings, store: VectorStore) -> dict[str, int]:
    active, _ = active_model_ids(settings)
    return store.old_vector_counts(active)
