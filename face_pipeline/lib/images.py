"""Finding and decoding photos, robustly.

Every photo folder holds surprises (truncated JPEGs, CMYK, 16-bit PNGs, symlinks, text files named
`.jpg`, decompression bombs). Each is turned into a `PhotoRejected` with a short machine-readable
`reason` and a sentence for people, so an event is processed around it and the file is reported.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from face_pipeline.lib.errors import UserError

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

#: Files larger than this are refused before they are read into memory (no photo is this large; a
#: multi-gigabyte `.jpg` is a disk image or a video that would otherwise exhaust memory).
MAX_FILE_BYTES = 1 << 30

IMAGE_SUFFIXES = {
    ".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic", ".heif",
}
HEIC_SUFFIXES = {".heic", ".heif"}

#: The only decoders an event photo ever reaches. Pillow picks a decoder from the file's content,
#: not its name, so without this list a `.jpg` could be decoded as EPS (which runs Ghostscript when
#: installed), DDS, SPIDER or a dozen other formats no camera writes, each more attack surface.
#: (JPEG includes the MPO variant of phones and 3D cameras; HEIF needs the pillow-heif extra.)
PHOTO_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP", "HEIF", "AVIF")


def _openable_formats() -> tuple[str, ...]:
    """PHOTO_FORMATS that this installation can open (Image.open fails on an unregistered name)."""
    Image.init()
    return tuple(f for f in PHOTO_FORMATS if f in Image.OPEN)


#: Every reason code a skipped file can carry (RELIABILITY.md lists what each means to a user).
SKIP_REASONS = {
    "empty_file", "truncated", "corrupt", "not_an_image", "too_many_pixels", "too_large",
    "file_too_large", "heic_unsupported", "unreadable", "broken_symlink", "symlink_outside",
    "symlink_dir", "not_a_file", "bad_file_name", "duplicate", "detect_failed", "missing",
}


def printable_path(rel: str) -> str:
    """A path that PostgreSQL and JSON accept: bytes that are not UTF-8 are shown as \\xNN."""
    try:
        rel.encode("utf-8")
        return rel
    except UnicodeEncodeError:
        return os.fsencode(rel).decode("utf-8", "backslashreplace")


class PhotoRejected(UserError):
    """A file that can not be used as a photo; `reason` is a stable short code."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class PhotoFile:
    """A candidate file inside an event folder (path relative to the event folder)."""

    path: Path
    relpath: str
    size_bytes: int
    mtime: float


@dataclass(frozen=True)
class Skipped:
    relpath: str
    reason: str
    message: str


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


def scan_event_folder(folder: Path) -> tuple[list[PhotoFile], list[Skipped]]:
    """All candidate photo files under an event folder, and the files skipped while walking it.

    Symlinks are never followed out of the folder; hidden files are ignored; anything that is not a
    regular file with an image suffix is reported as skipped, so the user can see what was left out.
    """
    folder = Path(folder)
    root_real = folder.resolve()
    photos: list[PhotoFile] = []
    skipped: list[Skipped] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in list(dirnames):
            if (Path(dirpath) / name).is_symlink():
                dirnames.remove(name)  # os.walk would not descend; say so instead of staying silent
                rel = printable_path((Path(dirpath) / name).relative_to(folder).as_posix())
                skipped.append(Skipped(rel, "symlink_dir", f"{rel}: symbolic link to a folder; not followed"))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(folder).as_posix()
            if printable_path(rel) != rel:
                rel = printable_path(rel)
                skipped.append(
                    Skipped(rel, "bad_file_name", f"{rel}: file name is not valid UTF-8; rename the file to include it")
                )
                continue
            if path.is_symlink():
                try:
                    target = path.resolve()
                except (OSError, RuntimeError):  # a symlink loop
                    skipped.append(Skipped(rel, "broken_symlink", f"{rel}: symbolic link loop"))
                    continue
                if not target.exists():
                    skipped.append(Skipped(rel, "broken_symlink", f"{rel}: broken symbolic link"))
                    continue
                if not target.is_relative_to(root_real):
                    skipped.append(
                        Skipped(rel, "symlink_outside", f"{rel}: symbolic link points outside the event folder; not followed")
                    )
                    continue
            suffix = path.suffix.lower()
            if suffix not in IMAGE_SUFFIXES:
                skipped.append(
                    Skipped(rel, "not_an_image", f"{rel}: not an image file (suffix {suffix or 'none'!r})")
                )
                continue
            try:
                st = path.stat()
            except OSError as exc:
                skipped.append(Skipped(rel, "unreadable", f"{rel}: cannot stat ({exc.strerror})"))
                continue
            if not path.is_file():
                skipped.append(Skipped(rel, "not_a_file", f"{rel}: not a regular file"))
                continue
            photos.append(PhotoFile(path, rel, st.st_size, st.st_mtime))
    return photos, skipped


def read_bytes(photo: PhotoFile) -> bytes:
    if photo.size_bytes > MAX_FILE_BYTES:
        raise PhotoRejected(
            "file_too_large",
            f"{photo.relpath}: {photo.size_bytes:,} bytes is larger than any photo ({MAX_FILE_BYTES:,} bytes at most)",
        )
    try:
        with open(photo.path, "rb") as fh:
            data = fh.read()
    except PermissionError as exc:
        raise PhotoRejected("unreadable", f"{photo.relpath}: permission denied") from exc
    except OSError as exc:
        raise PhotoRejected("unreadable", f"{photo.relpath}: cannot read ({exc.strerror})") from exc
    if not data:
        raise PhotoRejected("empty_file", f"{photo.relpath}: file is empty (0 bytes)")
    return data


def content_id(data: bytes) -> str:
    """A photo's identity is its content: the same bytes under any name are the same photo."""
    return hashlib.sha256(data).hexdigest()[:32]


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
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr / top * 255.0, 0, 255).astype(np.uint8)
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


def decode_photo(data: bytes, relpath: str, *, max_pixels: int, max_side: int) -> DecodedPhoto:
    """Decode bytes to an oriented RGB array, downscaled to at most `max_side` for detection.

    Memory stays bounded for huge photos: JPEGs are decoded straight at a reduced scale (`draft`),
    and anything above `max_pixels` is refused before its pixels are decoded.
    """
    import io

    suffix = Path(relpath).suffix.lower()
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
            # Animated GIF/WebP: the first frame is the photo, and open() is positioned on it.
            # (`n_frames` would walk every frame of a 100 000-frame GIF just to count them.)
            factor = work_scale(width, height, max_side)
            if fmt == "JPEG" and factor < 1:
                # Decode straight at 1/2, 1/4 or 1/8 scale: a panorama never exists at full size.
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
    except PhotoRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoRejected("too_many_pixels", f"{relpath}: refused as a decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        if suffix in HEIC_SUFFIXES and not HEIC_SUPPORTED:
            raise PhotoRejected(
                "heic_unsupported", f"{relpath}: HEIC photo; install face_pipeline[heic] (pillow-heif) to read it"
            ) from exc
        raise PhotoRejected(
            "not_an_image",
            f"{relpath}: not a readable photo (not {', '.join(PHOTO_FORMATS)}, or a corrupt header)",
        ) from exc
    except MemoryError as exc:
        raise PhotoRejected("too_large", f"{relpath}: not enough memory to decode") from exc
    except Exception as exc:
        # Decoders of damaged files raise almost anything (OSError, SyntaxError, struct.error,
        # IndexError, ZeroDivisionError ...): each is this file's problem, never the event's.
        text = str(exc) or type(exc).__name__
        truncated = "truncated" in text.lower() or isinstance(exc, EOFError)
        reason = "truncated" if truncated else "corrupt"
        raise PhotoRejected(reason, f"{relpath}: image data is {reason} ({text})") from exc

    # EXIF orientations 5-8 rotate by 90 degrees: the oriented full size swaps width and height.
    full_w, full_h = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    rgb = np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
    scale = rgb.shape[1] / full_w if full_w else 1.0
    return DecodedPhoto(rgb=rgb, width=full_w, height=full_h, scale=scale, captured_at=captured_at, format=fmt)


def load_rgb(path: Path | str, *, max_pixels: int = 120_000_000, max_side: int = 100_000) -> DecodedPhoto:
    """Decode one file (a reference picture, for instance) with the same rules as event photos."""
    p = Path(path)
    if not p.exists():
        raise PhotoRejected("missing", f"{p}: file not found")
    if p.is_dir():
        raise PhotoRejected("not_a_file", f"{p}: is a folder, not an image")
    st = p.stat()
    data = read_bytes(PhotoFile(p, p.name, st.st_size, st.st_mtime))
    return decode_photo(data, str(p), max_pixels=max_pixels, max_side=max_side)
