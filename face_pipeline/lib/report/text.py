"""The ranked photos of a lookup as text: a terminal table and a markdown table (Dagster metadata)."""

from __future__ import annotations

from face_pipeline.lib.report.images import data_uri, match_thumbnail
from face_pipeline.lib.search import FindResult
from face_pipeline.lib.settings import Settings


def matches_markdown(settings: Settings, result: FindResult, thumbs: bool = True, thumb_size: int = 96) -> str:
    lines = ["| # | event | photo | distance | confidence | face box | thumbnail |", "|---|---|---|---|---|---|---|"]
    for i, m in enumerate(result.matches, 1):
        cell = ""
        if thumbs and i <= 20:
            t = match_thumbnail(settings, m, thumb_size)
            cell = f"![{i}]({data_uri(t)})" if t else ""
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
    if result.person:
        out.append(f"person: {result.person_name or '(no name)'} ({result.person})")
    cut = "" if result.threshold != result.threshold else f"threshold {result.threshold:g}; "  # NaN: by person
    out.append(f"{cut}models {', '.join(result.models)}; {len(result.matches)} photo(s)")
    width = max([16, *(len(m.event) for m in result.matches)])
    out.append(f"{'#':>3}  {'distance':>8}  {'conf':>5}  {'event':<{width}} photo  [face box l,t,r,b]")
    for i, m in enumerate(result.matches, 1):
        via = "  (same person, beyond the threshold)" if m.via_person else ""
        out.append(f"{i:>3}  {m.distance:8.3f}  {m.confidence:5.0%}  {m.event:<{width}} {m.path}  {list(m.box)}{via}")
    if result.candidates:
        out.append(
            f"is this you too? {len(result.candidates)} photo(s) just past the threshold; "
            "confirm with --confirmed-face FACE_ID"
        )
        for m in result.candidates:
            out.append(
                f"  ?  {m.distance:8.3f}  {m.confidence:5.0%}  {m.event:<{width}} {m.path}  {list(m.box)}  "
                f"face {m.face_id}"
            )
    return "\n".join(out)
