"""The recipes a harness run compares: a detector, an embedder and how the search uses them.

- article: the seed article's Haar cascade + CLIP (imgbeddings), where its weights are available;
- baseline: the face_recognition-style pipeline (HOG upsampling 1, ResNet, euclidean 0.6, nearest ref);
- before: what face_pipeline shipped before this round (dlib HOG + ResNet with the library's search);
- ours: the models of the run's Settings (the same object and the same variables the CLI and the
  Dagster assets use) with the library's search defaults and the embedder's calibrated threshold;
- candidates: other (detector, embedder) pairs given with --candidate, measured the same way as ours.

Every model a run measures comes from the catalogue (lib/models/registry.py): a registered name, or a
variant `name:key=value,...` that the catalogue builds from that model's card with those arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from face_pipeline.lib.models import ModelFolders, get_detector
from face_pipeline.lib.search import DEFAULT_ENROL, DEFAULT_EXPAND
from face_pipeline.lib.settings import DEFAULT_DETECTOR, DEFAULT_EMBEDDER, Settings

BEFORE = ("dlib-hog", "dlib-resnet-v1")  # the defaults until this round


@dataclass(frozen=True)
class Recipe:
    key: str
    title: str
    detector: str  # registry name, or "name:arg=value,..." for a variant of it (detector_from_spec)
    embedder: str
    threshold: float | None = None  # None: the embedder's default_threshold
    enrol: str = DEFAULT_ENROL
    expand: bool = DEFAULT_EXPAND

    def threshold_for(self, embedder) -> float:
        return float(self.threshold if self.threshold is not None else embedder.default_threshold)


def recipes_for(settings: Settings, candidates: tuple[tuple[str, str], ...] = ()) -> list[Recipe]:
    shipped = (settings.detector, settings.embedder) == (DEFAULT_DETECTOR, DEFAULT_EMBEDDER)
    which = "the shipped defaults" if shipped else "settings that differ from the shipped defaults"
    out = [
        Recipe(
            "article",
            "article: Haar (sf 1.05, mn 2, min 100) + CLIP imgbeddings",
            "haar",
            "clip-imgbeddings",
            None,
            "min",
            False,
        ),
        Recipe(
            "baseline",
            "face_recognition-style: HOG up1 + dlib ResNet, L2 0.6",
            "dlib-hog",
            "dlib-resnet-v1",
            0.6,
            "min",
            False,
        ),
    ]
    if (settings.detector, settings.embedder) != BEFORE:
        out.append(Recipe("before", f"before this round: {BEFORE[0]} + {BEFORE[1]}, library search", *BEFORE))
    out.append(
        Recipe(
            "ours", f"ours ({which}): {settings.detector} + {settings.embedder}", settings.detector, settings.embedder
        )
    )
    for detector, embedder in candidates:
        if (detector, embedder) != (settings.detector, settings.embedder):
            out.append(Recipe(f"cand:{detector}+{embedder}", f"candidate: {detector} + {embedder}", detector, embedder))
    return out


@cache
def detector_from_spec(spec: str, folders: ModelFolders):
    """A registered detector by name, or the catalogue's variant `name:key=value,...` of it."""
    name, _, args = spec.partition(":")
    params = {}
    for part in filter(None, args.split(",")):
        key, value = part.split("=", 1)
        params[key.strip()] = float(value) if "." in value else int(value)
    return get_detector(name, folders, **params)
