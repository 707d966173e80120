"""The catalogue: every model's card (card.py), one line each. A detector or embedder is chosen by
its card's name (settings, `--detector`, `--embedder`), identified in the database by its card's
`model_id`, and built once per process by its card's factory. Adding a model is one new file under
detectors/ or embedders/ (its class and its card) and one line in CATALOGUE (README, "Adding a model").

What a card says (ids, crop kinds, licences, files) is read from the card without building anything;
building a model checks its files, and the model reads its weights on its first detect or embed call.
"""

from __future__ import annotations

import inspect
import logging
from functools import cache
from typing import Any

from face_pipeline.lib.errors import ConfigError
from face_pipeline.lib.models.card import ModelCard, ModelFolders
from face_pipeline.lib.models.detectors import (
    dlib_cnn,
    dlib_hog,
    dlib_hog_plus,
    haar,
    retinaface,
    scrfd,
    yunet,
)
from face_pipeline.lib.models.embedders import clip_imgbeddings, dlib_resnet, facenet, mobilefacenet
from face_pipeline.lib.models.interfaces import FaceDetector, FaceEmbedder
from face_pipeline.lib.models.weights import ModelFilesMissing

log = logging.getLogger(__name__)

CATALOGUE: tuple[ModelCard, ...] = (
    dlib_hog.CARD,
    dlib_hog_plus.CARD,
    dlib_cnn.CARD,
    haar.CARD,
    retinaface.CARD,
    retinaface.ROT_CARD,
    retinaface.ROT3_CARD,
    retinaface.AUTO_CARD,
    retinaface.AUTO_FP16_CARD,
    yunet.CARD,
    yunet.ROT_CARD,
    scrfd.CARD,
    scrfd.ROT_CARD,
    dlib_resnet.CARD,
    dlib_resnet.FLIP_CARD,
    facenet.CARD,
    facenet.FLIP_CARD,
    facenet.INT8_CARD,
    facenet.FLIP_INT8_CARD,
    facenet.FLIP_FP16_CARD,
    mobilefacenet.CARD,
    mobilefacenet.FLIP_CARD,
    clip_imgbeddings.CARD,
)


class UnknownModel(ConfigError):
    pass


def _by_name(kind: str) -> dict[str, ModelCard]:
    for field in ("name", "model_id"):  # a mistake in CATALOGUE, caught at import
        values = [getattr(c, field) for c in CATALOGUE]
        if len(set(values)) != len(values):
            raise RuntimeError(f"two catalogue cards have the same {field}")
    return {c.name: c for c in CATALOGUE if c.kind == kind}


DETECTORS: dict[str, ModelCard] = _by_name("detector")
EMBEDDERS: dict[str, ModelCard] = _by_name("embedder")


def card(name: str) -> ModelCard:
    """The card of the detector or embedder called `name`."""
    found = DETECTORS.get(name) or EMBEDDERS.get(name)
    if found is None:
        raise UnknownModel(f"unknown model {name!r}; choose one of {sorted([*DETECTORS, *EMBEDDERS])}")
    return found


def _card_of(kind: str, registry: dict[str, ModelCard], name: str) -> ModelCard:
    if name not in registry:
        raise UnknownModel(f"unknown {kind} {name!r}; choose one of {sorted(registry)}")
    return registry[name]


@cache
def get_detector(name: str, folders: ModelFolders | None = None, **params: Any) -> FaceDetector:
    """The detector registered under `name`, built once per process (its weights are read on its
    first detection). `params` build a variant with other constructor arguments (the evaluation
    harness's `name:key=value`); its model_id names them."""
    c = _card_of("detector", DETECTORS, name)
    _warn_if_non_commercial(c)
    if params:
        _check_params(c, params)
    return c.build(folders or ModelFolders.default(), **params)


@cache
def get_embedder(name: str, folders: ModelFolders | None = None) -> FaceEmbedder:
    """The embedder registered under `name`, built once per process (its weights are read on its
    first embedding)."""
    c = _card_of("embedder", EMBEDDERS, name)
    _warn_if_non_commercial(c)
    return c.build(folders or ModelFolders.default())


def _check_params(c: ModelCard, params: dict[str, Any]) -> None:
    signature = inspect.signature(c.factory)
    if not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        raise UnknownModel(f"{c.name} takes no parameters (got {sorted(params)}); vary its plain model instead")


def detector_model_id(name: str) -> str:
    """The model id stored with a detector's faces, from its card (nothing is built or read)."""
    return _card_of("detector", DETECTORS, name).model_id


def embedder_model_id(name: str, folders: ModelFolders | None = None) -> str:
    """The model id of an embedder's vectors, from its card (for CLIP, from the files in its folder)."""
    return _card_of("embedder", EMBEDDERS, name).model_id_in(folders or ModelFolders.default())


def crop_kind_of(embedder_name: str) -> str:
    """The crop an embedder consumes; crops are reusable across embedders of the same kind."""
    return _card_of("embedder", EMBEDDERS, embedder_name).crop_kind


def embedder_for_model_id(model_id: str, folders: ModelFolders | None = None) -> FaceEmbedder:
    """The registered embedder whose vectors carry `model_id` (vectors are compared like with like)."""
    for name in EMBEDDERS:
        try:
            matches = embedder_model_id(name, folders) == model_id
        except ModelFilesMissing:  # CLIP without its folder: it can not have made these vectors
            continue
        if matches:
            return get_embedder(name, folders)  # a missing weight file says how to install it
    raise UnknownModel(f"vectors of model {model_id!r} are stored but no installed embedder produces them")


_warned: set[str] = set()


def _warn_if_non_commercial(c: ModelCard) -> None:
    if not c.commercial_use and c.name not in _warned:
        _warned.add(c.name)
        log.warning("%s: %s. Do not use it for a company's own photos.", c.name, c.licence)
