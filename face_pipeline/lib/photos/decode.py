"""Decoding a photo to the RGB pixels a person sees, robustly and with bounded memory.

Truncated JPEGs, CMYK, 16-bit PNGs, float TIFFs, decompression bombs: each is decoded right or
refused with a `PhotoRejected` (a reason code and a sentence), never padded or guessed.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from face_pipeline.lib.photos.files import HEIC_SUFFIXES, PhotoFile, PhotoRejected, read_bytes
from face_pipeline.lib.storage import as_path

try:  # HEIC photos from phones, when the optional package is installed
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIC_SUPPORTED = True
except Exception:  # pragma: no cover - depends on the environment
    HEIC_SUPPORTED = False

# Truncated files must fail loudly, never be padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False
# Pillow's own bomb guard (89 M pixels warns, 179 M raises) would override
# FACE_PIPELINE_MAX_IMAGE_PIXELS: it could not be raised above 179 M, and between 89 M and the
# default 120 M its warning escaped as an unexpected exception. Every untrusted image goes through
# `decode_photo` (or ingest's header probe, which calls it for oversized images), and both enforce
# the setting from the header, before any pixel is decoded.
Image.MAX_IMAGE_PIXELS = None

#: The only decoders an event photo ever reaches. Pillow picks a decoder from the file's content,
#: not its name, so without this list a `.jpg` could be decoded as EPS (which runs Ghostscript when
#: installed), DDS, SPIDER or a dozen other formats no camera writes, each more attack surface.
#: (JPEG includes the MPO variant of phones and 3D cameras; HEIF needs the pillow-heif extra.)
PHOTO_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP", "HEIF", "AVIF")


def _openable_formats() -> tuple[str, ...]:
    """PHOTO_FORMATS that this installation can open (Image.open fails on an unregistered name)."""
    Image.init()
    return tuple(f for f in PHOTO_FORMATS if f in Image.OPEN)


@dataclass
class DecodedPhoto:
    """An RGB image as a person sees it (EXIF orientation applied).

    `rgb` may be downscaled for detection (`scale` < 1); width/height are the full oriented size.
    """

    rgb: np.ndarray
    width: int
    height: int
    scale: float
    captured_at: datetime | None
    format: str


def _exif_datetime(img: Image.Image) -> datetime | None:
    try:
        exif = img.getexif()
        raw = exif.get_ifd(0x8769).get(36867) or exif.get(306)  # DateTimeOriginal, DateTime
        if raw:
            return datetime.strptime(str(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except Exception:
        return None
    return None


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB; transparency is composited on white (a person sees that)."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        arr = np.clip(arr / _integer_range_top(arr) * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        finite = np.isfinite(arr)
        lo, hi = (float(arr[finite].min()), float(arr[finite].max())) if finite.any() else (0.0, 1.0)
        arr = np.where(finite, arr, lo)  # NaN and infinities of a damaged float TIFF: black
        arr = np.clip((arr - lo) / (hi - lo or 1.0) * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, img).convert("RGB")
    if mode != "RGB":
        return img.convert("RGB")
    return img


def _integer_range_top(arr: np.ndarray) -> float:
    """The white of a 16- or 32-bit grey image: the top of the smallest bit depth (8, 10, 12, 14, 16
    ...) that holds its brightest value. Many writers store 8-bit (0-255) or 12-bit camera values in a
    16-bit PNG or TIFF; scaled by 65535 those come out nearly black and their faces are lost. A real
    16-bit photo (values up to 65535) is scaled exactly as before."""
    peak = float(arr.max()) if arr.size else 0.0
    bits = 8
    while peak > 2.0**bits - 1 and bits < 32:
        bits += 2
    return 2.0**bits - 1


#: EXIF orientation -> the transpose that shows the photo as a person sees it (as ImageOps.exif_transpose).
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


#: A JPEG may decode to a work image this much smaller than the work size (its long side at least
#: 0.8 x FACE_PIPELINE_MAX_WORK_SIDE), when that lets it decode straight at 1/2, 1/4 or 1/8 scale
#: (Pillow's `draft`, DCT scaling): 26 ms instead of 136 ms for a 4032 x 2689 photo (BENCHMARKS.md).
#: The detector sees the photo at 1024 px either way; the crops come from a work image of 1920-2400 px.
DRAFT_KEEP = 0.8


def work_scale(width: int, height: int, max_side: int) -> float:
    """How much to shrink a photo before detection (1.0 = not at all).

    Photos up to 2:1 are shrunk to `max_side` on their longest side. Wider ones (panoramas) get
    the same pixel budget, max_side x max_side / 2, instead: shrinking a 24000 x 1200 panorama to
    2400 x 120 would leave its faces a few pixels tall, whereas the budget keeps them detectable
    while memory stays bounded.
    """
    longest = max(width, height, 1)
    if longest <= max_side:
        return 1.0
    budget = max_side * max_side / 2
    return min(1.0, max(max_side / longest, (budget / max(1, width * height)) ** 0.5))


@dataclass(frozen=True)
class PhotoHeader:
    """What a photo's header says, without decoding its pixels: oriented size, capture time, format."""

    width: int
    height: int
    captured_at: datetime | None
    format: str


def probe_header(data: bytes, relpath: str, *, max_pixels: int, max_side: int) -> PhotoHeader:
    """The header of a photo; a file that is not a readable photo, or too large, is refused with
    the decoder's own precise reason."""
    try:
        img = Image.open(io.BytesIO(data), formats=_openable_formats())  # photo decoders only
        w, h = img.size
        fmt = img.format or "?"
        orientation = int(img.getexif().get(0x0112, 1))
        captured = _exif_datetime(img)
    except Exception:
        decode_photo(data, relpath, max_pixels=max_pixels, max_side=max_side)  # raises with the reason
        raise PhotoRejected("not_an_image", f"{relpath}: not a readable image") from None
    if w * h > max_pixels:
        decode_photo(data, relpath, max_pixels=max_pixels, max_side=max_side)
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    return PhotoHeader(w, h, captured, fmt)


def decode_photo(data: bytes, relpath: str, *, max_pixels: int, max_side: int) -> DecodedPhoto:
    """Decode bytes to an oriented RGB array, downscaled to at most `max_side` for detection.

    Memory stays bounded for huge photos: JPEGs are decoded straight at a reduced scale (`draft`),
    and anything above `max_pixels` is refused before its pixels are decoded.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=_openable_formats())
            width, height = img.size
            if width * height > max_pixels:
                raise PhotoRejected(
                    "too_many_pixels",
                    f"{relpath}: {width}x{height} = {width * height:,} pixels is over the limit of "
                    f"{max_pixels:,} (a possible decompression bomb); raise "
                    "FACE_PIPELINE_MAX_IMAGE_PIXELS to accept it",
                )
            fmt = img.format or "?"
            captured_at = _exif_datetime(img)
            try:
                orientation = int(img.getexif().get(0x0112, 1))
            except Exception:
                orientation = 1
            img = _work_image(img, fmt, orientation, max_side)
    except PhotoRejected:
        raise
    except Exception as exc:
        raise _rejection(exc, relpath) from exc
    # EXIF orientations 5-8 rotate by 90 degrees: the oriented full size swaps width and height.
    full_w, full_h = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    rgb = np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
    scale = rgb.shape[1] / full_w if full_w else 1.0
    return DecodedPhoto(rgb=rgb, width=full_w, height=full_h, scale=scale, captured_at=captured_at, format=fmt)


def _work_image(img: Image.Image, fmt: str, orientation: int, max_side: int) -> Image.Image:
    """The opened image decoded, in RGB, at most `max_side` long, turned upright."""
    width, height = img.size
    # Animated GIF/WebP: the first frame is the photo, and open() is positioned on it.
    # (`n_frames` would walk every frame of a 100 000-frame GIF just to count them.)
    factor = work_scale(width, height, max_side) * DRAFT_KEEP
    if fmt == "JPEG" and factor < 1:
        # Decode straight at 1/2, 1/4 or 1/8 scale (the largest reduction that keeps DRAFT_KEEP of
        # the work size): a panorama never exists at full size, and a 4032 px phone photo decodes at
        # 2016 px in a fifth of the time a full decode and a resize to 2400 take.
        img.draft("RGB", (max(1, int(width * factor)), max(1, int(height * factor))))
    img.load()
    img = _to_rgb(img)
    # Shrink first, then turn the small work image upright: no full-size copy is made
    # (work_scale is symmetric in width and height, so the orientation does not change it).
    ow, oh = img.size
    factor = work_scale(ow, oh, max_side)
    if factor < 1:
        img = img.resize((max(1, round(ow * factor)), max(1, round(oh * factor))), Image.Resampling.BILINEAR)
    if orientation in _ORIENTATION_TRANSPOSE:
        img = img.transpose(_ORIENTATION_TRANSPOSE[orientation])
    return img


def _rejection(exc: Exception, relpath: str) -> PhotoRejected:
    """What a decoder's exception means for this file."""
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return PhotoRejected("too_many_pixels", f"{relpath}: refused as a decompression bomb ({exc})")
    if isinstance(exc, UnidentifiedImageError):
        if Path(relpath).suffix.lower() in HEIC_SUFFIXES and not HEIC_SUPPORTED:
            return PhotoRejected(
                "heic_unsupported", f"{relpath}: HEIC photo; install face_pipeline[heic] (pillow-heif) to read it"
            )
        return PhotoRejected(
            "not_an_image", f"{relpath}: not a readable photo (not {', '.join(PHOTO_FORMATS)}, or a corrupt header)"
        )
    if isinstance(exc, MemoryError):
        return PhotoRejected("too_large", f"{relpath}: not enough memory to decode")
    # Decoders of damaged files raise almost anything (OSError, SyntaxError, struct.error,
    # IndexError, ZeroDivisionError ...): each is this file's problem, never the event's.
    text = str(exc) or type(exc).__name__
    reason = "truncated" if "truncated" in text.lower() or isinstance(exc, EOFError) else "corrupt"
    return PhotoRejected(reason, f"{relpath}: image data is {reason} ({text})")


def load_rgb(path: Path | str, *, max_pixels: int = 120_000_000, max_side: int = 100_000) -> DecodedPhoto:
    """Decode one file (a reference picture, for instance) with the same rules as event photos."""
    p = as_path(path)
    if not p.exists():
        raise PhotoRejected("missing", f"{p}: file not found")
    if p.is_dir():
        raise PhotoRejected("not_a_file", f"{p}: is a folder, not an image")
    st = p.stat()
    data = read_bytes(PhotoFile(p, p.name, st.st_size, st.st_mtime))
    return decode_photo(data, str(p), max_pixels=max_pixels, max_side=max_side)
