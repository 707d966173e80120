"""Forgetting an event: its rows (one transaction), then its crops, stage files and the HTML reports
that show its photos. The photos folder is left alone; running it again after an interruption
finishes the job."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from face_pipeline.lib.errors import UserError
from face_pipeline.lib.ingest.event_lock import event_lock
from face_pipeline.lib.photos.events import validate_event_name
from face_pipeline.lib.report.index import forget_pages, pages_showing
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.storage import count_files, remove_tree
from face_pipeline.lib.store import VectorStore


@dataclass
class ForgetEventResult:
    event: str
    dry_run: bool
    rows: dict[str, int]  # photos, faces, vectors, skipped
    crop_files: int
    stage_files: int
    reports: list[Path] = field(default_factory=list)  # HTML reports that show a photo of the event


def forget_event(settings: Settings, store: VectorStore, event: str, *, dry_run: bool = False) -> ForgetEventResult:
    validate_event_name(event)
    crops = settings.crops_dir / event
    stage = settings.stage_dir / event
    with event_lock(settings, event):
        rows = store.event_row_counts(event)
        crop_files, stage_files = count_files(crops), count_files(stage)
        if not any(rows.values()) and not crop_files and not stage_files:
            raise UserError(f"nothing is stored for event {event!r}: no rows, crops or stage files")
        counts = {k: rows[k] for k in ("photos", "faces", "vectors", "skipped")}
        reports = pages_showing(settings, events={event})
        if not dry_run:
            counts = store.delete_event(event)
            remove_tree(crops)
            remove_tree(stage)
            if count_files(crops) or count_files(stage):
                raise OSError(f"could not remove all files of {event!r} under {settings.data_dir}; run again")
            forget_pages(settings, reports)
    return ForgetEventResult(event, dry_run, counts, crop_files, stage_files, reports)
