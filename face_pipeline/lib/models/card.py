"""A model's catalogue card: what the model is, the id stored with everything it makes, its licence,
the files it needs and where each comes from, what was measured, and how to build it.

A card is plain data, readable without reading a weight file or opening an ONNX session: Dagster's
definitions (code versions are model ids), every schedule tick, `face-pipeline models` and the
settings' validation read cards only. Each model declares its cards next to its code (detectors/,
embedders/); registry.py lists them, one line each. The factory builds the model from checked file
paths; the model opens its weights on first use (its first detect or embed call).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from face_pipeline.lib.models.package_files import PackagedFile, packaged_path
from face_pipeline.lib.models.weights import WeightFile, default_model_dir, verified_path

Kind = Literal["detector", "embedder"]
ModelFile = WeightFile | PackagedFile

#: Where the figures that cards cite were measured: one text each, quoted by every card that cites it.
WIDER_EVIDENCE = "WIDER dev photos (faces >= 40 px, IoU 0.3, EVALUATION.md 'Detection')"
LFW_EVIDENCE = "LFW retrieval (201 queries, photo level, EVALUATION.md 'Identity models side by side')"


@dataclass(frozen=True)
class ModelFolders:
    """Where model files are: the installed weight files, and the user's CLIP files (optional); and
    the device their ONNX sessions run on (FACE_PIPELINE_DEVICE; inference.py). The device never
    changes a model id: the same model gives the same vectors, within float rounding, on either."""

    model_dir: Path
    clip_model_dir: str = ""
    device: str = "cpu"

    @classmethod
    def default(cls) -> ModelFolders:
        return cls(default_model_dir())


@dataclass(frozen=True)
class ModelFiles:
    """What a factory is given: the path of each file it names, after its sha256 is checked (a
    missing or damaged file is a ModelFilesMissing that names `model` in the command that fixes it)."""

    folders: ModelFolders
    model: str

    @property
    def device(self) -> str:
        return self.folders.device

    def path(self, file: ModelFile) -> Path:
        if isinstance(file, PackagedFile):
            return packaged_path(file, self.model)
        return verified_path(self.folders.model_dir, file, self.model)


@dataclass(frozen=True)
class ModelCard:
    name: str  # chosen by this name: settings, --detector, --embedder, `models install NAME`
    kind: Kind
    model_id: str  # stored with every face or vector it makes: never change it for a model in use
    licence: str
    input_size: str  # what the network sees
    summary: str  # one line for `face-pipeline models`
    evidence: str  # what was measured, and where it is written down
    factory: Callable[..., Any]  # (ModelFiles, **params) -> the model; reads no weight until first use
    files: tuple[ModelFile, ...] = ()  # every file it needs, ours (installed) or a dependency's
    user_files: str = ""  # files the user supplies instead, and where (CLIP)
    crop_kind: str = ""  # embedders: the crop they consume (crops of one kind serve every embedder of it)
    commercial_use: bool = True
    default_install: bool = True  # `face-pipeline models install` without names installs its files
    # For a model whose files the user supplies (CLIP): its id names those files, read from the folder.
    model_id_from_files: Callable[[ModelFolders], str] | None = None
    # A quantised or half-precision copy of another card's model: that card's name, and how far its
    # output may lie from the float model's on real faces (embedders: cosine distance of the vectors;
    # detectors: 1 - IoU of matched boxes), which test_model_variants.py checks.
    variant_of: str = ""
    max_distance_to_float: float = 0.0

    def build(self, folders: ModelFolders, **params: Any) -> Any:
        """The model, built from checked files; `params` (the evaluation harness's variants) go to
        the factory, and the model's own model_id then names them."""
        return self.factory(ModelFiles(folders, self.name), **params)

    def model_id_in(self, folders: ModelFolders) -> str:
        return self.model_id_from_files(folders) if self.model_id_from_files else self.model_id

    @property
    def installed_files(self) -> tuple[WeightFile, ...]:
        """The files `face-pipeline models install` writes into the model folder."""
        return tuple(f for f in self.files if isinstance(f, WeightFile))
