"""What people look at: thumbnails and face grids (images.py), the ranked photos as text (text.py),
the HTML page of a lookup (html.py), and the record of which page shows which photo (index.py)."""

from face_pipeline.lib.report.html import write_html_report
from face_pipeline.lib.report.images import (
    boxed_thumbnail,
    data_uri,
    face_grid,
    face_grid_markdown,
    match_thumbnail,
)
from face_pipeline.lib.report.text import matches_markdown, matches_text

__all__ = [
    "boxed_thumbnail",
    "data_uri",
    "face_grid",
    "face_grid_markdown",
    "match_thumbnail",
    "matches_markdown",
    "matches_text",
    "write_html_report",
]
