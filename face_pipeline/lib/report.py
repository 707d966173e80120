"""Pictures where pictures say more than text: match thumbnails with the face boxed, face grids.

Images are embedded as data URIs, so a report is one self-contained file that opens offline and
never makes the browser fetch anything.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from face_pipeline.lib.events import event_folder
from face_pipeline.lib.images import load_rgb
from face_pipeline.lib.search import FindResult, PhotoMatch
from face_pipeline.lib.settings import Settings, make_private_dir


def _data_uri(img: Image.Image, fmt: str = "JPEG", quality: int = 80) -> str:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format=fmt, quality=quality)
    mime = "image/jpeg" if fmt == "JPEG" else "image/png"
    return f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode()


def boxed_thumbnail(rgb: np.ndarray, box: Sequence[int], scale_to_full: float, size: int) -> Image.Image:
    """A thumbnail of a photo with one face box drawn (box in full-size photo pixels)."""
    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    l, t, r, b = (int(round(v * scale_to_full)) for v in box)
    width = max(2, img.width // 150)
    draw.rectangle([l, t, r, b], outline=(255, 48, 48), width=width)
    img.thumbnail((size, size))
    return img


def match_thumbnail(settings: Settings, match: PhotoMatch, size: int = 320) -> Image.Image | None:
    try:
        path = event_folder(settings.photos_root, match.event) / match.path
        photo = load_rgb(path, max_pixels=settings.max_image_pixels, max_side=max(size * 2, 640))
    except Exception:
        return None
    return boxed_thumbnail(photo.rgb, match.box, photo.scale, size)


def face_grid(crop_paths: Sequence[Path], *, tile: int = 64, columns: int = 8, limit: int = 32) -> Image.Image | None:
    """A grid of face crops (the asset metadata's picture of what was detected)."""
    paths = list(crop_paths)[:limit]
    if not paths:
        return None
    rows = (len(paths) + columns - 1) // columns
    grid = Image.new("RGB", (columns * tile, rows * tile), (240, 240, 240))
    for i, p in enumerate(paths):
        try:
            face = Image.open(p).convert("RGB")
        except OSError:
            continue
        face.thumbnail((tile, tile))
        grid.paste(face, ((i % columns) * tile, (i // columns) * tile))
    return grid


def face_grid_markdown(crop_paths: Sequence[Path], title: str = "faces") -> str:
    grid = face_grid(crop_paths)
    if grid is None:
        return f"*no {title}*"
    return f"![{title}]({_data_uri(grid)})"


def matches_markdown(settings: Settings, result: FindResult, thumbs: bool = True, thumb_size: int = 96) -> str:
    lines = ["| # | event | photo | distance | confidence | face box | thumbnail |", "|---|---|---|---|---|---|---|"]
    for i, m in enumerate(result.matches, 1):
        cell = ""
        if thumbs and i <= 20:
            t = match_thumbnail(settings, m, thumb_size)
            cell = f"![{i}]({_data_uri(t)})" if t else ""
        lines.append(
            f"| {i} | {m.event} | {m.path} | {m.distance:.3f} | {m.confidence:.0%} | {tuple(m.box)} | {cell} |"
        )
    if not result.matches:
        lines.append(f"| - | no photo within threshold {result.threshold:g} | | | | | |")
    return "\n".join(lines)


def matches_text(result: FindResult) -> str:
    """The ranked list for a terminal."""
    out = []
    for r in result.references:
        out.append(f"reference {r.path}: face {r.chosen_index} of {r.faces_found} at {r.face.box}")
    out.append(f"threshold {result.threshold:g}; models {', '.join(result.models)}; {len(result.matches)} photo(s)")
    width = max([16, *(len(m.event) for m in result.matches)])
    out.append(f"{'#':>3}  {'distance':>8}  {'conf':>5}  {'event':<{width}} photo  [face box l,t,r,b]")
    for i, m in enumerate(result.matches, 1):
        out.append(f"{i:>3}  {m.distance:8.3f}  {m.confidence:5.0%}  {m.event:<{width}} {m.path}  {list(m.box)}")
    return "\n".join(out)


def write_html_report(settings: Settings, result: FindResult, out_path: Path | None = None, title: str = "find me") -> Path:
    """A self-contained HTML page: the reference face(s), then each matching photo with its face boxed."""
    out_dir = make_private_dir(settings.reports_dir)
    out_path = Path(out_path) if out_path else out_dir / "find_person.html"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    refs = []
    for r in result.references:
        thumb = boxed_thumbnail(r.photo.rgb, r.face.box, 1.0, 240)
        refs.append(
            f'<figure><img src="{_data_uri(thumb)}"><figcaption>{html.escape(Path(r.path).name)}'
            f"<br>face {r.chosen_index} of {r.faces_found}</figcaption></figure>"
        )
    cards = []
    for i, m in enumerate(result.matches, 1):
        thumb = match_thumbnail(settings, m)
        img = f'<img src="{_data_uri(thumb)}">' if thumb else "<div class=missing>photo unavailable</div>"
        cards.append(
            f"<figure>{img}<figcaption><b>#{i}</b> {html.escape(m.event)}/{html.escape(m.path)}<br>"
            f"distance {m.distance:.3f} &middot; confidence {m.confidence:.0%}</figcaption></figure>"
        )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; background: #fafafa; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 12px; }}
figure {{ margin: 0; background: white; padding: 8px; border: 1px solid #ddd; max-width: 340px; }}
figure img {{ display: block; max-width: 320px; }}
figcaption {{ font-size: 13px; margin-top: 4px; word-break: break-all; }}
.missing {{ width: 320px; height: 120px; background: #eee; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Reference</h2><div class="grid">{''.join(refs)}</div>
<h2>{len(result.matches)} matching photo(s)</h2>
<p>threshold {result.threshold:g} &middot; models {html.escape(', '.join(result.models))} &middot;
{result.faces_considered} candidate faces considered</p>
<div class="grid">{''.join(cards) or '<p>No photo within the threshold.</p>'}</div>
</body></html>"""
    fd_path = out_path
    fd_path.write_text(page)
    fd_path.chmod(0o600)
    return fd_path
