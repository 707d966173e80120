"""A share link as a QR code: a PNG to print or put on a slide, and the same code in a terminal."""

from __future__ import annotations

import io
from pathlib import Path

import segno


def qr_png(url: str, path: Path | None = None, *, scale: int = 8) -> bytes:
    """The link's QR code as PNG bytes (written to `path` too when given)."""
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=scale, border=4)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def qr_terminal(url: str) -> str:
    """The QR code drawn with half-block characters (two rows per line), dark on a light border,
    scannable from a terminal."""
    code = segno.make(url, error="m")
    rows = [[bool(v) for v in row] for row in code.matrix_iter(border=2)]
    if len(rows) % 2:
        rows.append([False] * len(rows[0]))
    glyph = {(True, True): " ", (True, False): "▄", (False, True): "▀", (False, False): "█"}
    # light = "█" (foreground colour), dark = " ": the usual dark-on-light reading of a QR code
    return "\n".join(
        "".join(glyph[(top, bottom)] for top, bottom in zip(rows[i], rows[i + 1], strict=True))
        for i in range(0, len(rows), 2)
    )
