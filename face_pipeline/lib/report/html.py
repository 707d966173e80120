"""Self-contained HTML pages (images as data URIs, nothing fetched): the lookup report (the reference
face(s), then each matching photo with its face boxed) and the people page (one face per person, each
linking to that person's photos). Pages under DATA_DIR/reports are recorded in the report index
(index.py), so forgetting an event or a person finds the pages that show them."""

from __future__ import annotations

import html
import math
from pathlib import Path

from face_pipeline.lib.report.images import boxed_thumbnail, data_uri, match_thumbnail
from face_pipeline.lib.report.index import record_page
from face_pipeline.lib.search import FindResult, PhotoMatch
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.storage import make_private_dir

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; background: #fafafa; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; background: white; padding: 8px; border: 1px solid #ddd; max-width: 340px; }
figure img { display: block; max-width: 320px; }
figure.person img { width: 128px; height: 128px; object-fit: cover; }
figcaption { font-size: 13px; margin-top: 4px; word-break: break-all; }
.missing { width: 320px; height: 120px; background: #eee; }
.via { color: #865; }
section.person { margin-top: 2em; border-top: 1px solid #ccc; }
"""


def page(title: str, body: str) -> str:
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body></html>"
    )


def write_page(settings: Settings, out_path: Path, text: str, photos: list[tuple[str, str]]) -> Path:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(text)
    out_path.chmod(0o600)
    record_page(settings, out_path, photos)
    return out_path


def photo_card(settings: Settings, m: PhotoMatch, caption: str, size: int = 320) -> str:
    thumb = match_thumbnail(settings, m, size)
    img = (
        f'<img src="{data_uri(thumb)}" alt="{html.escape(m.path)}">'
        if thumb
        else "<div class=missing>photo unavailable</div>"
    )
    return f"<figure>{img}<figcaption>{caption}</figcaption></figure>"


def write_html_report(
    settings: Settings, result: FindResult, out_path: Path | None = None, title: str = "find me"
) -> Path:
    """A self-contained HTML page: the reference face(s), then each matching photo with its face boxed."""
    out_path = Path(out_path) if out_path else make_private_dir(settings.reports_dir) / "find_person.html"
    refs = []
    for r in result.references:
        thumb = boxed_thumbnail(r.photo.rgb, r.face.box, 1.0, 240)
        refs.append(
            f'<figure><img src="{data_uri(thumb)}"><figcaption>{html.escape(Path(r.path).name)}'
            f"<br>face {r.chosen_index} of {r.faces_found}</figcaption></figure>"
        )
    cards = []
    for i, m in enumerate(result.matches, 1):
        via = " <span class=via>(same person, beyond the threshold)</span>" if m.via_person else ""
        cards.append(
            photo_card(
                settings,
                m,
                f"<b>#{i}</b> {html.escape(m.event)}/{html.escape(m.path)}<br>"
                f"distance {m.distance:.3f} &middot; confidence {m.confidence:.0%}{via}",
            )
        )
    who = ""
    if result.person:
        who = f"<p>person: <b>{html.escape(result.person_name or result.person)}</b></p>"
    threshold = "" if math.isnan(result.threshold) else f"threshold {result.threshold:g} &middot; "
    body = (
        f'<h2>Reference</h2><div class="grid">{"".join(refs) or "<p>(by person)</p>"}</div>{who}'
        f"<h2>{len(result.matches)} matching photo(s)</h2>"
        f"<p>{threshold}models {html.escape(', '.join(result.models))} &middot; "
        f"{result.faces_considered} candidate faces considered</p>"
        f'<div class="grid">{"".join(cards) or "<p>No photo within the threshold.</p>"}</div>'
    )
    return write_page(settings, out_path, page(title, body), [(m.event, m.path) for m in result.matches])
