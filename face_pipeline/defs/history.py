"""Dagster run records that show faces, so that forgetting an event or a person reaches them too.

Two kinds of run keep pictures of faces in Dagster's own storage: a run that materialised
`face_crops` for an event keeps that event's `faces_preview` grid, and a `find_person_job` run
keeps its `matches` table with a thumbnail per photo (and the same list as JSON, `matches_json`,
which is what this module reads). Dagster cannot edit an event's metadata
after the fact, and its asset wipe leaves the run logs (and their pictures) in place, so
forgetting deletes those runs. The data stays: `face-pipeline ingest EVENT` gives an event a run
history again without recomputing anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import dagster as dg

from face_pipeline.defs.lookup.jobs import MATCHES_JSON, find_person_job

PREVIEW_ASSET = dg.AssetKey("face_crops")  # its materialisations carry faces_preview


@dataclass(frozen=True)
class RunShowingFaces:
    run_id: str
    kind: str  # "ingest" (face previews of an event) or "lookup" (match thumbnails)
    events: tuple[str, ...]


def runs_showing(
    instance: dg.DagsterInstance, *, events: Iterable[str] = (), photos: Iterable[tuple[str, str]] = ()
) -> list[RunShowingFaces]:
    """The runs with pictures of any face of `events`, or of these (event, path) `photos`.

    Ingest runs count when they materialised face_crops for one of those events, or for an event
    of one of the photos (its face preview may show anyone of the event); lookup runs when their
    matches table lists one of `photos` or any photo of `events`.
    """
    events, photos = set(events), set(photos)
    ingest_events = events | {e for e, _ in photos}
    runs: dict[str, RunShowingFaces] = {}
    if ingest_events:
        by_run: dict[str, set[str]] = {}
        records_filter = dg.AssetRecordsFilter(asset_key=PREVIEW_ASSET, asset_partitions=sorted(ingest_events))
        cursor = None
        while True:  # Dagster hands out at most 10,000 records at a time
            page = instance.fetch_materializations(records_filter, limit=1000, cursor=cursor)
            for record in page.records:
                by_run.setdefault(record.run_id, set()).add(record.partition_key or "")
            if not page.has_more:
                break
            cursor = page.cursor
        runs.update({rid: RunShowingFaces(rid, "ingest", tuple(sorted(evs))) for rid, evs in by_run.items()})
    for run in instance.get_runs(filters=dg.RunsFilter(job_name=find_person_job.name)):
        listed = _photos_listed(instance, run.run_id)
        hit = {(e, p) for e, p in listed if e in events or (e, p) in photos}
        if hit:
            runs[run.run_id] = RunShowingFaces(run.run_id, "lookup", tuple(sorted({e for e, _ in hit})))
    return sorted(runs.values(), key=lambda r: (r.kind, r.run_id))


def _photos_listed(instance: dg.DagsterInstance, run_id: str) -> set[tuple[str, str]]:
    """(event, path) of each photo a lookup run listed (its report_matches output's JSON entry)."""
    listed = set()
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_OUTPUT):
        data = entry.dagster_event.step_output_data if entry.dagster_event else None
        matches = data.metadata.get(MATCHES_JSON) if data else None
        for photo in getattr(matches, "data", None) or []:
            listed.add((photo["event"], photo["path"]))
    return listed


def delete_runs(instance: dg.DagsterInstance, runs: Iterable[RunShowingFaces]) -> int:
    n = 0
    for run in runs:
        instance.delete_run(run.run_id)
        n += 1
    return n
