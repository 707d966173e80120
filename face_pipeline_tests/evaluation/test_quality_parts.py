"""Pure parts of the 'Right on photos nobody tuned for' section (evaluation/sections/quality.py)."""

from __future__ import annotations

from pathlib import Path

from face_pipeline.evaluation.analysis import PhotoFaces
from face_pipeline.evaluation.sections.quality import (
    SCORE_EDGES,
    WIDTH_EDGES,
    bucket,
    face_in_tile,
    worst_html_path,
)
from face_pipeline.evaluation.synthetic import Tile


def test_buckets_are_half_open_and_the_last_is_open():
    assert bucket(39, WIDTH_EDGES) == "0-40"
    assert bucket(40, WIDTH_EDGES) == "40-60"
    assert bucket(500, WIDTH_EDGES) == "120+"
    assert bucket(0.995, SCORE_EDGES) == "0.99-0.999"
    assert bucket(None, WIDTH_EDGES) == "not detected"
    assert bucket(-1, WIDTH_EDGES) == "<0"


def test_face_in_tile_takes_the_face_nearest_the_tile_centre_inside_it():
    tile = Tile(Path("x.jpg"), "A", left=100, top=100, size=200)
    pf = PhotoFaces(
        "c", [(0, 0, 50, 50), (110, 110, 150, 150), (170, 170, 230, 230), (280, 280, 340, 340)], [0.9] * 4, {}
    )
    assert face_in_tile(pf, tile) == 2  # centre (200, 200): the tile's own centre
    assert face_in_tile(PhotoFaces("c", [(0, 0, 50, 50)], [0.9], {}), tile) is None


def test_worst_cases_page_sits_next_to_the_report():
    assert worst_html_path(Path("/tmp/EVALUATION.md")) == Path("/tmp/EVALUATION-worst-cases.html")
