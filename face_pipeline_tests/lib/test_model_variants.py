"""Quantised (int8) and half-precision (fp16) copies of our models stay close to the float model they
were made from, on real faces: the bundled demo photos (astronaut crews, some floating sideways) and
their reference portraits. Each card states its bound (ModelCard.max_distance_to_float); a variant
whose files are not installed skips with the command that installs it (CI installs them)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from face_pipeline.lib.bundled_files import demo_dir
from face_pipeline.lib.models import (
    CATALOGUE,
    ModelFilesMissing,
    card,
    find_faces,
    get_detector,
    get_embedder,
)
from face_pipeline.lib.models.faces import iou
from face_pipeline.lib.models.weights import install_command
from face_pipeline.lib.photos.decode import load_rgb

VARIANTS = [c for c in CATALOGUE if c.variant_of]


@cache
def demo_images() -> tuple[np.ndarray, ...]:
    paths = sorted((demo_dir() / "photos").rglob("*.jpg")) + sorted((demo_dir() / "reference").glob("*.jpg"))
    return tuple(load_rgb(p, max_side=2400).rgb for p in paths)


def built(name: str, kind: str):
    try:
        return get_detector(name) if kind == "detector" else get_embedder(name)
    except ModelFilesMissing:
        pytest.skip(f"{name} is not installed: {install_command([name])}")


def test_every_variant_names_an_existing_float_model_of_its_kind_with_a_bound():
    assert VARIANTS, "the catalogue has quantised variants"
    for c in VARIANTS:
        assert card(c.variant_of).kind == c.kind and not card(c.variant_of).variant_of
        assert 0 < c.max_distance_to_float < 0.5
        assert c.model_id != card(c.variant_of).model_id


@pytest.mark.parametrize("c", [c for c in VARIANTS if c.kind == "embedder"], ids=lambda c: c.name)
def test_a_quantised_embedder_gives_vectors_near_the_float_models_on_the_demo_faces(c):
    variant, float_model = built(c.name, "embedder"), get_embedder(c.variant_of)
    detector = get_detector("retinaface-mnet025")
    chips = [float_model.crop(rgb, f) for rgb in demo_images() for f in find_faces(rgb, detector)]
    assert len(chips) >= 60  # the demo's faces, upright ones at least
    a, b = variant.embed(chips), float_model.embed(chips)
    distances = 1.0 - (a * b).sum(axis=1)  # both L2-normalised: cosine distance
    assert float(distances.max()) <= c.max_distance_to_float, (
        f"{c.name}: cosine distance to {c.variant_of} up to {distances.max():.4f} (mean {distances.mean():.4f})"
    )


@pytest.mark.parametrize("c", [c for c in VARIANTS if c.kind == "detector"], ids=lambda c: c.name)
def test_a_quantised_detector_finds_the_float_models_faces_at_the_same_place(c):
    variant, float_model = built(c.name, "detector"), get_detector(c.variant_of)
    matched = total = extra = 0
    for rgb in demo_images():
        ref, got = find_faces(rgb, float_model), find_faces(rgb, variant)
        total += len(ref)
        for f in ref:
            best = max((iou(f.box, g.box) for g in got), default=0.0)
            matched += best >= 1.0 - c.max_distance_to_float
        extra += max(0, len(got) - len(ref))
    # Scores move a little: a face right at the threshold may come and go, nothing more.
    assert total >= 60 and matched >= total - 2 and extra <= 2, (c.name, matched, total, extra)
