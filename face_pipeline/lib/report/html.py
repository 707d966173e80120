"""The lookup report: one self-contained HTML page, the reference face(s), then each matching photo
with its face boxed. Pages under DATA_DIR/reports are recorded in the report index (index.py), so
forgetting an event or a person finds the pages that show them."""

from __future__ import annotations

import html
from pathlib import Path

from face_pipeline.lib.report.images import boxed_thumbnail, data_uri, match_thumbnail
from face_pipeline.lib.report.index import record_page
from face_pipeline.lib.search import FindResult
from face_pipeline.lib.settings import Settings, make_private_dir


def write_html_report(settings: Settings, result: FindResult, out_path: Path | None = None, title: str = "find me") -> Path:
    """A self-contained HTML page: the reference face(s), then each matching photo with its face boxed."""
    out_dir = make_private_dir(settings.reports_dir)
    out_path = Path(out_path) if out_path else out_dir / "find_person.html"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    refs = []
    for r in result.references:
        thumb = boxed_thumbnail(r.photo.rgb, r.face.box, 1.0, 240)
        refs.append(
            f'<figure><img src="{data_uri(thumb)}"><figcaption>{html.escape(Path(r.path).name)}'
            f"<br>face {r.chosen_index} of {r.faces_found}</figcaption></figure>"
        )
    cards = []
    for i, m in enumerate(result.matches, 1):
        thumb = match_thumbnail(settings, m)
        img = f'<img src="{data_uri(thumb)}">' if thumb else "<div class=missing>photo unavailable</div>"
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
    out_path.write_text(page)
    out_path.chmod(0o600)
    record_page(settings, out_path, [(m.event, m.path) for m in result.matches])
    return out_path
