"""A harness report as markdown (EVALUATION.md). The discussion section below DISCUSSION_HEADING is
written by people; a new report carries it over unchanged."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Iterable, Sequence
from pathlib import Path

from face_pipeline.evaluation.report import Report, Section

DISCUSSION_HEADING = "## Discussion"


def fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def as_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(fmt(c) for c in row) + " |")
    return "\n".join(lines)


def machine_description() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def section_markdown(section: Section) -> str:
    parts = [section.intro] if section.intro else []
    for t in section.tables:
        parts.append((t.caption + "\n\n" if t.caption else "") + as_table(t.header, t.rows))
    parts += [f"- {n}" for n in section.notes]
    return "\n\n".join(parts)


def to_markdown(report: Report, keep_from: str = "") -> str:
    """The report; the discussion section of `keep_from` (the previous report) is kept as it was."""
    lines = [
        "# Evaluation of face search",
        "",
        *report.header_lines,
        f"Run time: {report.seconds / 60:.1f} min on {machine_description()}.",
        "",
    ]
    if report.targets:
        lines += [
            "## Targets",
            "",
            as_table(("target", "measured (ours)", ""), [(t.name, t.measured, t.status) for t in report.targets]),
            "",
        ]
    for section in report.sections:
        lines += [f"## {section.title}", "", section_markdown(section), ""]
    if report.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in report.notes] + [""]
    if DISCUSSION_HEADING in keep_from:
        lines += [keep_from[keep_from.index(DISCUSSION_HEADING) :].rstrip(), ""]
    return "\n".join(lines)
