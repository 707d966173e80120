"""What a harness run produces, as data: sections of tables and the targets they measured.
Sections measure; render.py writes the markdown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

MET, MISSED, NOT_MEASURED = "met", "missed", "not measured"


@dataclass
class Table:
    header: tuple[str, ...]
    rows: list[tuple]
    caption: str = ""  # a sentence before the table


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    status: str  # MET, MISSED or NOT_MEASURED (a target checked on zero cases is not met)


def target(name: str, measured: str, ok: bool | None) -> Target:
    return Target(name, measured, NOT_MEASURED if ok is None else (MET if ok else MISSED))


@dataclass
class Section:
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self, header: Sequence[str], rows: Sequence[Sequence], caption: str = "") -> None:
        self.tables.append(Table(tuple(header), [tuple(r) for r in rows], caption))


@dataclass
class Report:
    started: datetime
    header_lines: list[str]  # what was measured with what: data folders, settings, machine
    seconds: float = 0.0
    sections: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def targets(self) -> list[Target]:
        return [t for s in self.sections for t in s.targets]
