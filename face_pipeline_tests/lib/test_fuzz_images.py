"""Issue #6, item 5: fuzzing the image-loading path.

Whatever bytes a file holds, loading it either gives an 8-bit RGB picture of sane size or a
`PhotoRejected` with a documented reason code; never another exception, never a hang on a header
that claims billions of pixels. Inputs: random bytes, and real images in every format and mode
that Pillow writes, then damaged (truncated, bytes flipped, spliced, dimensions rewritten).

CI runs a short pass; run a long one with

    FACE_PIPELINE_FUZZ_EXAMPLES=20000 nice pytest face_pipeline_tests/lib/test_fuzz_images.py

(failing inputs are kept in .hypothesis/ and replayed first on the next run).
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from face_pipeline.lib.photos.decode import decode_photo, probe_header
from face_pipeline.lib.photos.files import SKIP_REASONS, PhotoRejected

EXAMPLES = int(os.environ.get("FACE_PIPELINE_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MAX_PIXELS = 4_000_000  # small, so that a fuzzed header claiming a big image is refused fast
MAX_SIDE = 64

FORMATS = {  # format -> (suffix, modes it can hold)
    "PNG": (".png", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"]),
    "JPEG": (".jpg", ["L", "RGB", "CMYK"]),
    "GIF": (".gif", ["L", "P", "RGB"]),
    "BMP": (".bmp", ["1", "L", "P", "RGB"]),
    "TIFF": (".tif", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"]),
    "WEBP": (".webp", ["RGB", "RGBA"]),
    "HEIF": (".heic", ["RGB", "RGBA"]),
    "AVIF": (".avif", ["RGB"]),
    # Formats no camera writes: refused by the decoder allow-list, whatever they hold.
    "ICO": (".jpg", ["RGBA"]),
    "PPM": (".jpg", ["1", "L", "RGB"]),
    "DDS": (".jpg", ["RGB", "RGBA"]),
    "BLP": (".jpg", ["P"]),
    "SPIDER": (".jpg", ["F"]),
    "EPS": (".jpg", ["RGB"]),
    "TGA": (".jpg", ["RGB"]),
    "PCX": (".jpg", ["RGB"]),
    "SGI": (".jpg", ["RGB"]),
}
Image.init()
AVAILABLE = {f: v for f, v in FORMATS.items() if f in Image.SAVE}
CRASHERS = sorted((Path(__file__).parent / "decoder_crashers").glob("*.bin"))


def _image(pixels: np.ndarray, mode: str) -> Image.Image:
    if mode == "I;16":  # 16-bit greyscale: Pillow makes it from uint16 data, not by convert()
        return Image.fromarray(pixels[..., 0].astype(np.uint16) * 257)
    return Image.fromarray(pixels).convert(mode)


@st.composite
def real_images(draw) -> tuple[bytes, str]:
    fmt = draw(st.sampled_from(sorted(AVAILABLE)))
    suffix, modes = AVAILABLE[fmt]
    mode = draw(st.sampled_from(modes))
    w = draw(st.integers(1, 48))
    h = draw(st.integers(1, 48))
    seed = draw(st.integers(0, 2**32 - 1))
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    img = _image(pixels, mode)
    buf = io.BytesIO()
    kwargs = {}
    if fmt == "GIF" and draw(st.booleans()):
        kwargs = {"save_all": True, "append_images": [img.copy()], "duration": 50}
    if fmt == "JPEG" and draw(st.booleans()):
        exif = Image.Exif()
        exif[0x0112] = draw(st.integers(0, 12))  # orientation, valid or not
        kwargs = {"exif": exif.tobytes()}
    img.save(buf, fmt, **kwargs)
    return buf.getvalue(), suffix


@st.composite
def damaged(draw, source) -> tuple[bytes, str]:
    data, suffix = draw(source)
    data = bytearray(data)
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["truncate", "flip", "splice", "dims", "zero"]))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if kind == "truncate":
            data = data[:pos]
        elif kind == "flip":
            data[pos] ^= draw(st.integers(1, 255))
        elif kind == "splice":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "dims":  # a plausible header field rewritten with a large or odd size
            value = draw(st.sampled_from([0, 1, 0xFFFF, 0x7FFF, 0xFFFFFFFF, 0x7FFFFFFF, 40000, 65500]))
            packed = struct.pack(">I", value) if draw(st.booleans()) else struct.pack("<I", value)
            data[pos : pos + 4] = packed
        else:
            data[pos : pos + 16] = b"\x00" * 16
    return bytes(data), suffix


INPUTS = st.one_of(
    st.tuples(st.binary(max_size=2048), st.sampled_from([".jpg", ".png", ".gif", ".heic", ".tif"])),
    real_images(),
    damaged(real_images()),
)


def _check_decoded(photo) -> None:
    rgb = photo.rgb
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.flags.c_contiguous
    assert 1 <= rgb.shape[0] and 1 <= rgb.shape[1]
    assert rgb.shape[0] * rgb.shape[1] <= max(MAX_SIDE * MAX_SIDE, photo.width * photo.height)
    assert photo.width >= 1 and photo.height >= 1 and photo.width * photo.height <= MAX_PIXELS
    assert 0 < photo.scale <= 1.0 + 1e-9


@FUZZ
@given(INPUTS)
def test_decoding_any_bytes_gives_a_picture_or_a_reason(case):
    data, suffix = case
    try:
        photo = decode_photo(data, f"fuzz{suffix}", max_pixels=MAX_PIXELS, max_side=MAX_SIDE)
    except PhotoRejected as exc:
        assert exc.reason in SKIP_REASONS, exc.reason
        assert exc.message.startswith(f"fuzz{suffix}")
        return
    _check_decoded(photo)


@FUZZ
@given(INPUTS)
def test_the_scan_probe_of_any_bytes_gives_a_size_or_a_reason(case):
    """The header-only probe (used while hashing an event) must be as robust as the decoder."""
    data, suffix = case
    try:
        header = probe_header(data, f"fuzz{suffix}", max_pixels=MAX_PIXELS, max_side=MAX_SIDE)
    except PhotoRejected as exc:
        assert exc.reason in SKIP_REASONS, exc.reason
        return
    assert header.width >= 0 and header.height >= 0 and header.width * header.height <= MAX_PIXELS


@pytest.mark.parametrize("path", CRASHERS, ids=[p.stem for p in CRASHERS])
def test_inputs_that_once_crashed_a_decoder_are_rejected(path):
    """Damaged files that the fuzzer found raising RuntimeError, NotImplementedError, AttributeError
    or a format's own error class inside Pillow (file name: format-exception)."""
    with pytest.raises(PhotoRejected) as err:
        decode_photo(path.read_bytes(), "found.jpg", max_pixels=MAX_PIXELS, max_side=MAX_SIDE)
    assert err.value.reason in SKIP_REASONS


def test_formats_no_camera_writes_are_never_decoded():
    """An EPS named .jpg would run Ghostscript where it is installed: it is refused unread."""
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, "EPS")
    with pytest.raises(PhotoRejected) as err:
        decode_photo(buf.getvalue(), "party.jpg", max_pixels=MAX_PIXELS, max_side=MAX_SIDE)
    assert err.value.reason == "not_an_image" and "JPEG" in err.value.message
