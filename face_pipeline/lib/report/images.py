"""Pictures where pictures say more than text: photos with a face boxed, grids of face crops.

Images are embedded as data URIs, so a page or a metadata entry is self-contained and never makes a
browser fetch anything.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from face_pipeline.lib.photos.decode import load_rgb
from face_pipeline.lib.photos.events import event_folder
from face_pipeline.lib.search import PhotoMatch
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.storage import as_path


def data_uri(img: Image.Image, fmt: str = "JPEG", quality: int = 80) -> str:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format=fmt, quality=quality)
    mime = "image/jpeg" if fmt == "JPEG" else "image/png"
    return f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode()


def boxed_thumbnail(rgb: np.ndarray, box: Sequence[int], scale_to_full: float, size: int) -> Image.Image:
    """A thumbnail of a photo with one face box drawn (box in full-size photo pixels). The box is
    drawn on the thumbnail, so it stays 3 pixels wide whatever the photo's size (drawn before the
    shrink, it came out under a pixel on large photos)."""
    img = Image.fromarray(rgb)
    img.thumbnail((size, size))
    scale = scale_to_full * img.width / rgb.shape[1]
    l, t, r, b = (int(round(v * scale)) for v in box)
    ImageDraw.Draw(img).rectangle([l, t, r, b], outline=(255, 40, 40), width=3)
    return img


def match_thumbnail(
    settings: Settings, match: PhotoMatch, size: int = 320, *, crop: bool = False
) -> Image.Image | None:
    """The photo of a match with its face boxed; with `crop`, the face alone (with a margin)."""
    try:
        path = event_folder(settings.photos_root, match.event) / match.path
        photo = load_rgb(path, max_pixels=settings.max_image_pixels, max_side=max(size * 2, 640))
    except Exception:  # a photo moved or deleted since: the report shows a gap, never fails
        return None
    if crop:
        return face_thumbnail(photo.rgb, match.box, photo.scale, size)
    return boxed_thumbnail(photo.rgb, match.box, photo.scale, size)


def face_thumbnail(rgb: np.ndarray, box: Sequence[int], scale_to_full: float, size: int) -> Image.Image:
    """The face of `box` (full-size photo pixels) with 40 % of margin around it, square."""
    l, t, r, b = (v * scale_to_full for v in box)
    side = max(r - l, b - t) * 1.4
    cx, cy = (l + r) / 2, (t + b) / 2
    h, w = rgb.shape[:2]
    region = (
        max(0, int(cx - side / 2)),
        max(0, int(cy - side / 2)),
        min(w, int(cx + side / 2)),
        min(h, int(cy + side / 2)),
    )
    img = Image.fromarray(rgb).crop(region)
    img.thumbnail((size, size))
    return img


def face_grid(crop_paths: Sequence[Path], *, tile: int = 64, columns: int = 8, limit: int = 32) -> Image.Image | None:
    """A grid of face crops (the asset metadata's picture of what was detected)."""
    paths = list(crop_paths)[:limit]
    if not paths:
        return None
    rows = (len(paths) + columns - 1) // columns
    grid = Image.new("RGB", (columns * tile, rows * tile), (240, 240, 240))
    for i, p in enumerate(paths):
        try:
            face = Image.open(io.BytesIO(as_path(p).read_bytes())).convert("RGB")
        except OSError:
            continue
        face.thumbnail((tile, tile))
        grid.paste(face, ((i % columns) * tile, (i // columns) * tile))
    return grid


def face_grid_markdown(crop_paths: Sequence[Path], title: str = "faces") -> str:
    grid = face_grid(crop_paths)
    if grid is None:
        return f"*no {title}*"
    return f"![{title}]({data_uri(grid)})"
