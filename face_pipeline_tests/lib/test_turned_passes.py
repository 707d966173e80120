"""The turned passes only where they pay: retinaface-mnet025-autorot runs the 90/180/270-degree
passes only on photos whose upright pass shows a turned face, and gives exactly the upright
detector's faces everywhere else (the bundled demo photos: crews floating sideways and upside down)."""

from __future__ import annotations

import numpy as np
import pytest

from face_pipeline.lib.bundled_files import demo_dir
from face_pipeline.lib.models import find_faces, get_detector
from face_pipeline.lib.models.detectors.rotations import (
    RotatedPassesDetector,
    TurnedCandidate,
    tilt_degrees,
)
from face_pipeline.lib.models.faces import iou
from face_pipeline.lib.photos.decode import load_rgb

PHOTOS = demo_dir() / "photos"
UPRIGHT_CREW = PHOTOS / "event_a_iss_2000_2001" / "a01_exp1_crew_oranges.jpg"
TURNED_CREW = PHOTOS / "event_a_iss_2000_2001" / "a03_sts100_exp2_group_ISS002E7172.jpg"  # Usachev, Hadfield


def boxes(faces) -> list[tuple]:
    return [f.box for f in faces]


@pytest.mark.parametrize("down, expected", [((0, 1), 0), ((1, 0), 90), ((-1, 0), 90), ((0, -1), 180), ((1, 1), 45)])
def test_tilt_is_the_angle_of_the_face_from_upright(down, expected):
    eyes = np.array([[40.0, 50.0], [60.0, 50.0]])
    mouth_mid = eyes.mean(axis=0) + 20 * np.asarray(down, dtype=float)
    landmarks = np.vstack([eyes, eyes.mean(axis=0, keepdims=True), mouth_mid - [5, 0], mouth_mid + [5, 0]])
    assert tilt_degrees(landmarks) == pytest.approx(expected, abs=1e-6)


def test_on_a_photo_without_a_turned_face_autorot_is_the_upright_detector_exactly():
    rgb = load_rgb(UPRIGHT_CREW).rgb
    auto = get_detector("retinaface-mnet025-autorot")
    before = auto.rotated_photos
    got = find_faces(rgb, auto)
    assert auto.rotated_photos == before  # no turned pass ran
    plain = find_faces(rgb, get_detector("retinaface-mnet025"))
    assert boxes(got) == boxes(plain) and [f.score for f in got] == [f.score for f in plain]
    assert len(got) == 4


def test_on_a_crew_floating_sideways_autorot_finds_what_every_turned_pass_finds():
    rgb = load_rgb(TURNED_CREW).rgb
    auto = get_detector("retinaface-mnet025-autorot")
    before = auto.rotated_photos
    got = find_faces(rgb, auto)
    assert auto.rotated_photos == before + 1
    always = find_faces(rgb, get_detector("retinaface-mnet025-rot3"))
    upright = find_faces(rgb, get_detector("retinaface-mnet025"))
    assert boxes(got) == boxes(always)
    assert len(got) >= len(upright) + 3  # the sideways and upside-down astronauts
    turned = [f for f in got if max((iou(f.box, u.box) for u in upright), default=0) < 0.3]
    assert turned and all(tilt_degrees(f.landmarks) > 60 for f in turned)


def test_the_rule_and_its_parameters_are_in_the_model_id():
    auto = get_detector("retinaface-mnet025-autorot")
    assert isinstance(auto, RotatedPassesDetector) and auto.when == TurnedCandidate(0.05, 60.0)
    assert auto.model_id.endswith("-iftilt60-c0.05")
    assert auto.model_id.startswith(get_detector("retinaface-mnet025-rot3").model_id)
