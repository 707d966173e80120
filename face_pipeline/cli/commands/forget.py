"""`forget-event` and `forget-person`: list (default) or delete everything stored of an event or a
person, including the pictures of their faces in Dagster's run records (defs/history.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import dagster as dg

from face_pipeline.cli.commands.store_access import open_store
from face_pipeline.lib.errors import FacePipelineError
from face_pipeline.lib.forget import (
    ForgetPersonResult,
    forget_event,
    forget_named_person,
    forget_person,
)
from face_pipeline.lib.photos.events import validate_event_name
from face_pipeline.lib.settings import Settings
from face_pipeline.runtime import prepare


def add_commands(sub) -> None:
    s = sub.add_parser(
        "forget-event", help="forget an event: rows, vectors, crops, stage files (dry run without --yes)"
    )
    s.add_argument("event")
    s.add_argument("--yes", action="store_true", help="delete (default: list what would be deleted)")
    s.set_defaults(run=cmd_forget_event)
    s = sub.add_parser("forget-person", help="forget every stored face of a person (dry run without --yes)")
    s.add_argument(
        "references",
        nargs="+",
        help="reference picture(s) of the person, or a person's name or id (face-pipeline people)",
    )
    s.add_argument("--threshold", type=float, help="distance cut-off (default: the model's)")
    s.add_argument("--event", action="append", help="only this event (repeatable)")
    s.add_argument("--face-index", type=int, help="which face of the reference (0 = largest)")
    s.add_argument("--yes", action="store_true", help="delete (default: list what would be deleted)")
    s.set_defaults(run=cmd_forget_person)


def cmd_forget_event(args, settings: Settings) -> int:
    """Forget an event everywhere the pipeline stored it (the photo folder is the user's and stays)."""
    event = validate_event_name(args.event)
    settings, store = open_store(settings)
    r = forget_event(settings, store, event, dry_run=not args.yes)
    verb = "deleted" if args.yes else "would delete"
    print(
        f"{verb} event {r.event}: {r.rows['photos']} photos, {r.rows['faces']} faces, "
        f"{r.rows['vectors']} vectors, {r.rows['skipped']} skipped-file rows, {r.crop_files} crop files, "
        f"{r.stage_files} stage files, {len(r.reports)} HTML reports; the photo folder is left untouched"
    )
    forget_dagster_runs(settings, args.yes, events={event})
    if args.yes:
        try:
            prepare(settings)
            instance = dg.DagsterInstance.get()
            if instance.has_dynamic_partition("events", event):
                instance.delete_dynamic_partition("events", event)
                print(f"removed the Dagster partition {event!r} (its run history stays)")
        except Exception as exc:  # the data is gone either way; say why the partition stayed
            print(f"note: could not remove the Dagster partition: {exc}", file=sys.stderr)
    return 0


def cmd_forget_person(args, settings: Settings) -> int:
    settings, store = open_store(settings)
    if len(args.references) == 1 and not Path(args.references[0]).exists():
        r: ForgetPersonResult = forget_named_person(settings, store, args.references[0], dry_run=not args.yes)
    else:
        r = forget_person(
            settings,
            store,
            args.references,
            threshold=args.threshold,
            events=args.event,
            face_index=args.face_index,
            dry_run=not args.yes,
        )
    for f in r.faces:
        print(f"{f.event}\t{f.path}\tface {f.face_index}\tdistance {f.distance:.3f}")
    which = f"of person {args.references[0]}" if r.threshold != r.threshold else f"within distance {r.threshold:g}"
    print(f"{len(r.faces)} faces in {len(r.photos)} photos {which}; {len(r.reports)} HTML reports show these photos")
    if args.yes:
        print(f"deleted: {r.deleted}; {r.reports_deleted} HTML reports")
    elif r.faces:
        print("dry run: add --yes to delete these faces (rows, vectors, crops, stage entries, reports)")
    forget_dagster_runs(settings, args.yes, photos=set(r.photos))
    return 0


def forget_dagster_runs(
    settings: Settings, delete: bool, *, events: set[str] = frozenset(), photos: set[tuple[str, str]] = frozenset()
) -> None:
    """List (or delete) the Dagster runs whose metadata show these events' faces or these photos:
    face previews of ingest runs, match thumbnails of lookup runs (face_pipeline/defs/history.py)."""
    if not events and not photos:
        return
    from face_pipeline.defs.history import delete_runs, runs_showing

    try:
        prepare(settings)
        runs = runs_showing(dg.DagsterInstance.get(), events=events, photos=photos)
    except (FacePipelineError, dg.DagsterError, OSError) as exc:
        # the rows and files are dealt with either way; say what was not
        print(
            f"note: could not read Dagster's run records, so runs that show these faces were not checked: {exc}",
            file=sys.stderr,
        )
        return
    ingest = [r for r in runs if r.kind == "ingest"]
    lookups = [r for r in runs if r.kind == "lookup"]
    what = (
        f"{len(runs)} Dagster run(s) with pictures of these faces ({len(ingest)} ingest run(s) with face "
        f"previews of {', '.join(sorted({e for r in ingest for e in r.events})) or 'no event'}, "
        f"{len(lookups)} find_person run(s) with match thumbnails)"
    )
    if not runs:
        print("no Dagster run has pictures of these faces")
    elif delete:
        delete_runs(dg.DagsterInstance.get(), runs)
        print(
            f"deleted {what}; `face-pipeline ingest EVENT` gives an event a run history again (nothing is recomputed)"
        )
    else:
        print(f"{what}: --yes deletes them too")
