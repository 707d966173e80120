"""Inputs that used to slip through: a person named with a newline or a control character, and a
16-bit PNG whose samples use only 0-255 (nearly black when read as full 16-bit)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from face_pipeline.cli import main
from face_pipeline.lib.errors import UserError
from face_pipeline.lib.models import find_faces, get_detector
from face_pipeline.lib.people.decisions import MAX_NAME_LENGTH, name_person, valid_person_name
from face_pipeline.lib.photos.decode import decode_photo
from face_pipeline_tests.conftest import lfw_photo, needs_datasets


@pytest.mark.parametrize("name, why", [
    ("a\nb", "'\\n'"), ("tab\there", "'\\t'"), ("bell\x07", "'\\x07'"), ("rtl\u202eeman", "'\\u202e'"),
    ("x" * (MAX_NAME_LENGTH + 1), "at most"), ("   ", "give a name"),
])
def test_bad_person_names_are_refused_with_the_reason(name, why, store):
    with pytest.raises(UserError) as err:
        valid_person_name(name)
    assert why in str(err.value)
    with pytest.raises(UserError, match="name"):  # checked before the person is even looked up
        name_person(store, "p000000000000", name)


def test_good_names_pass_stripped():
    assert valid_person_name("  Zoë O'Brien-Łukasz 李  ") == "Zoë O'Brien-Łukasz 李"
    assert valid_person_name("x" * MAX_NAME_LENGTH) == "x" * MAX_NAME_LENGTH


def test_cli_refuses_a_name_with_a_newline(settings, store, monkeypatch, capsys):
    monkeypatch.setenv("FACE_PIPELINE_PHOTOS_ROOT", str(settings.photos_root))
    monkeypatch.setenv("FACE_PIPELINE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FACE_PIPELINE_DSN", settings.dsn)
    assert main(["people", "name", "p000000000000", "a\nb"]) == 2
    assert "'\\n'" in capsys.readouterr().err


def _png16(grey: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(grey.astype(np.uint16)).save(buf, "PNG")
    return buf.getvalue()


@needs_datasets
def test_16_bit_png_is_scaled_by_its_real_range(settings):
    grey = np.asarray(Image.open(lfw_photo("Joseph_Biden", 1)).convert("L"), dtype=np.uint16)
    full = decode_photo(_png16(grey * 257), "full.png", max_pixels=10**8, max_side=2400).rgb
    eight_bit_values = decode_photo(_png16(grey), "low.png", max_pixels=10**8, max_side=2400).rgb
    twelve_bit_values = decode_photo(_png16(grey * 16), "mid.png", max_pixels=10**8, max_side=2400).rgb
    assert np.abs(full.astype(int) - grey[..., None]).max() <= 1
    assert np.abs(eight_bit_values.astype(int) - full.astype(int)).mean() < 1.0
    assert np.abs(twelve_bit_values.astype(int) - full.astype(int)).mean() < 1.5
    detector = get_detector(settings.detector, settings.model_folders)
    assert len(find_faces(eight_bit_values, detector)) == 1
