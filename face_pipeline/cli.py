"""`face-pipeline`: everything the Dagster UI does, from a terminal, through the same library calls.

    face-pipeline demo                      set up demo photos (from ../shared), run the ingest job, find a person
    face-pipeline ingest [EVENT ...]        ingest events (all folders under the photos root by default)
    face-pipeline backfill [EVENT ...]      the same through Dagster's ingest job, one run per event
    face-pipeline find REF [REF ...]        photos of the person in the reference picture(s)
    face-pipeline events                    events in the database, with counts and serving model
    face-pipeline db status|migrate         database status / apply sql/ migrations
    face-pipeline ui                        the Dagster UI (webserver + daemon) on the same database
    face-pipeline reembed [--dry-run]       re-run events whose vectors come from another model
    face-pipeline prune-models [--yes]      delete vectors of models no event serves any more
    face-pipeline forget-event EVENT        forget an event (rows, vectors, crops, stage files)
    face-pipeline forget-person REF         forget every stored face of a person (dry run first)
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from face_pipeline.lib.events import list_event_folders, validate_event_name
from face_pipeline.lib.settings import VARIABLES, Settings, redact_dsn

log = logging.getLogger("face_pipeline")

# execute_in_process logs every step event at DEBUG; a terminal wants the INFO lines only.
QUIET_RUN = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

DEMO_REFERENCE_REL = "datasets/lfw_deepfunneled_subset/images/Joseph_Biden/Joseph_Biden_0001.jpg"


class CliError(Exception):
    pass


def _shared_dir() -> Path:
    import os

    from face_pipeline.runtime import PROJECT_DIR

    return Path(os.environ.get("FACE_PIPELINE_SHARED", PROJECT_DIR.parent / "shared"))


def _progress(name: str, done: int, total: int) -> None:
    if not sys.stderr.isatty():
        if done == total or done % max(1, total // 10) == 0:
            print(f"  {name}: {done}/{total}", file=sys.stderr, flush=True)
        return
    width = 30
    filled = width * done // max(1, total)
    end = "\n" if done == total else ""
    print(f"\r  {name:<16} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end=end, file=sys.stderr, flush=True)


def _settings(args) -> Settings:
    return Settings.from_env(
        photos_root=getattr(args, "photos_root", None),
        data_dir=getattr(args, "data_dir", None),
        detector=getattr(args, "detector", None),
        embedder=getattr(args, "embedder", None),
    )


def _store(settings: Settings):
    from face_pipeline.runtime import prepare

    rt = prepare(settings, with_dagster=False)
    from face_pipeline.lib.store import VectorStore

    store = VectorStore(rt.dsn)
    store.migrate()
    return rt.settings, store


# ---- commands ----------------------------------------------------------------------------------


def cmd_ingest(args) -> int:
    settings, store = _store(_settings(args))
    events = args.events or list_event_folders(settings.photos_root)[0]
    if not events:
        raise CliError(f"no event folders under {settings.photos_root} (expected <photos root>/<event>/...)")
    _, invalid = list_event_folders(settings.photos_root)
    for name in invalid:
        print(f"skipping folder {name!r}: not a valid event name (lower-case letters, digits, '-', '_')", file=sys.stderr)
    from face_pipeline.lib.ingest import ingest_event

    failed = 0
    for event in events:
        validate_event_name(event)
        print(f"event {event}:", file=sys.stderr)
        try:
            rep = ingest_event(settings, store, event, progress=_progress)
        except (OSError, ValueError) as exc:
            failed += 1
            print(f"  FAILED: {exc} (the event's stored rows are unchanged)", file=sys.stderr)
            continue
        m, f, e, w = rep.manifest, rep.faces, rep.embeddings, rep.written
        print(
            f"  {len(m.photos)} photos ({m.new} new, {m.changed} changed, {m.unchanged} unchanged, {m.removed} removed), "
            f"{len(m.skipped) + len(f.skipped)} skipped; {len(f.faces)} faces ({f.detected_photos} photos detected, "
            f"{f.reused_photos} reused); {e.embedded} embedded, {e.reused} reused; wrote {w.vectors} vectors "
            f"[{', '.join(f'{k} {v:.1f}s' for k, v in rep.seconds.items())}]"
        )
        for s in [*m.skipped, *f.skipped]:
            print(f"    skipped {s.relpath}: {s.reason}", file=sys.stderr)
    return 1 if failed else 0


def cmd_find(args) -> int:
    settings, store = _store(_settings(args))
    from face_pipeline.lib.report import matches_text, write_html_report
    from face_pipeline.lib.search import find_person

    result = find_person(
        settings, store, args.references, k=args.k, threshold=args.threshold, events=args.event or None,
        model_id=args.model, face_index=args.face_index, enrol=args.enrol, expand=not args.no_expand,
    )
    print(matches_text(result))
    if not args.no_html:
        path = write_html_report(settings, result, Path(args.html) if args.html else None)
        print(f"report: {path}")
    return 0


def cmd_events(args) -> int:
    settings, store = _store(_settings(args))
    rows = store.event_summaries()
    folders, invalid = list_event_folders(settings.photos_root)
    known = {r["event"] for r in rows}
    print(f"{'event':<24}{'photos':>8}{'faces':>8}{'skipped':>9}  serving model")
    for r in rows:
        print(f"{r['event']:<24}{r['photos']:>8}{r['faces']:>8}{r['skipped']:>9}  {r['serving_model']}")
    for f in folders:
        if f not in known:
            print(f"{f:<24}{'-':>8}{'-':>8}{'-':>9}  (folder not ingested yet)")
    for f in invalid:
        print(f"{f:<24}  invalid event name, ignored")
    return 0


def cmd_db(args) -> int:
    settings = _settings(args)
    from face_pipeline.runtime import prepare

    rt = prepare(settings, with_dagster=False)
    from face_pipeline.lib.store import VectorStore

    store = VectorStore(rt.dsn)
    if args.action == "migrate":
        applied = store.migrate()
        print(f"applied: {', '.join(applied) or 'nothing (up to date)'}")
        return 0
    print(f"database: {redact_dsn(rt.dsn)} ({'embedded, ' + str(settings.embedded_pg_dir) if rt.embedded else 'external'})")
    migrations = store.applied_migrations()
    print(f"migrations applied: {', '.join(name for _, name, _ in migrations) or 'none (run: face-pipeline db migrate)'}")
    if migrations:
        for table, n in store.counts().items():
            print(f"  {table:<14}{n:>10}")
    return 0


def _dagster_instance():
    from dagster import DagsterInstance

    return DagsterInstance.get()


def prepare_demo_photos(settings: Settings) -> list[str]:
    """A demo photos root built from ../shared/datasets (copied under DATA_DIR, never into the repo)."""
    shared = _shared_dir() / "datasets"
    if not shared.is_dir():
        raise CliError(f"no photos: {settings.photos_root} has no event folders and {shared} is absent; "
                       "put photos in <photos root>/<event>/ or set FACE_PIPELINE_PHOTOS_ROOT")
    import csv

    made = []
    celeb = shared / "celeb_scenes_dev"
    dest = settings.photos_root / "celeb-scenes"
    if celeb.is_dir() and not dest.exists():
        with open(celeb / "labels.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                target = dest / row["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(celeb / row["path"], target)
        made.append("celeb-scenes")
    couples = shared / "wider_face_val_groups" / "WIDER_val" / "images" / "19--Couple"
    dest = settings.photos_root / "wider-couples"
    if couples.is_dir() and not dest.exists():
        dest.mkdir(parents=True)
        for src in sorted(couples.glob("*.jpg"))[:20]:
            shutil.copy2(src, dest / src.name)
        made.append("wider-couples")
    return made


def run_ingest_jobs(definitions, instance, events: list[str], *, trigger: str) -> dict[str, bool]:
    """Run the ingest_event job once per event (one Dagster run each, recorded in the instance).

    One run per event, as the assets' BackfillPolicy asks: a failed event leaves the others done and
    its own previous rows untouched (face_vectors writes in one transaction).
    """
    missing = [e for e in events if not instance.has_dynamic_partition("events", e)]
    if missing:
        instance.add_dynamic_partitions("events", missing)
    job = definitions.resolve_job_def("ingest_event")
    outcome = {}
    for event in events:
        t0 = time.perf_counter()
        res = job.execute_in_process(partition_key=event, instance=instance, raise_on_error=False, run_config=QUIET_RUN,
                                     tags={"face_pipeline/event": event, "face_pipeline/trigger": trigger})
        outcome[event] = res.success
        if not res.success:
            failure = next((e for e in res.all_events if e.is_step_failure), None)
            why = failure.step_failure_data.error.message.strip() if failure and failure.step_failure_data.error else ""
            print(f"event {event}: ingest run {res.run_id[:8]} FAILED: {why}", file=sys.stderr)
            continue
        mats = {
            e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
            for e in res.get_asset_materialization_events()
        }
        v, c, p = mats["face_vectors"], mats["face_crops"], mats["event_photos"]
        print(f"event {event}: {v['photos'].value} photos ({p['new'].value} new, {p['changed'].value} changed, "
              f"{p['removed'].value} removed, {p['skipped_files'].value} skipped), {v['faces'].value} faces, "
              f"{v['vectors'].value} vectors in {time.perf_counter() - t0:.1f}s "
              f"({c['ms_per_detected_photo'].value} ms per detected photo), run {res.run_id[:8]}")
    return outcome


def cmd_backfill(args) -> int:
    settings = _settings(args)
    from face_pipeline.runtime import prepare

    rt = prepare(settings)
    from face_pipeline.definitions import defs
    from face_pipeline.lib.store import VectorStore

    VectorStore(rt.dsn).migrate()
    events = args.events or list_event_folders(rt.settings.photos_root)[0]
    for e in events:
        validate_event_name(e)
    outcome = run_ingest_jobs(defs(), _dagster_instance(), events, trigger="backfill")
    failed = [e for e, ok in outcome.items() if not ok]
    print(f"backfill: {len(outcome) - len(failed)} event(s) done, {len(failed)} failed {failed or ''}")
    return 1 if failed else 0


def cmd_demo(args) -> int:
    settings = _settings(args)
    import dataclasses
    import os

    if not args.photos_root and "FACE_PIPELINE_PHOTOS_ROOT" not in os.environ:
        # The demo's copies of research-licensed photos live under the data folder, never the repo.
        settings = dataclasses.replace(settings, photos_root=settings.data_dir / "photos")
    if not list_event_folders(settings.photos_root)[0]:
        made = prepare_demo_photos(settings)
        print(f"demo photos root {settings.photos_root}: created events {made} from {_shared_dir() / 'datasets'}")
    from face_pipeline.runtime import prepare

    rt = prepare(settings)
    settings = rt.settings
    print(f"database: {redact_dsn(rt.dsn)} ({'embedded' if rt.embedded else 'external'}); "
          f"Dagster storage: {redact_dsn(rt.dagster_url)}; DAGSTER_HOME={rt.dagster_home}")
    from face_pipeline.lib.store import VectorStore

    applied = VectorStore(rt.dsn).migrate()
    if applied:
        print(f"migrations applied: {', '.join(applied)}")
    from face_pipeline.definitions import defs

    definitions = defs()
    instance = _dagster_instance()
    events, invalid = list_event_folders(settings.photos_root)
    for name in invalid:
        print(f"skipping folder {name!r}: not a valid event name")
    run_ingest_jobs(definitions, instance, events, trigger="demo")
    reference = Path(args.reference) if args.reference else _shared_dir() / DEMO_REFERENCE_REL
    if not reference.is_file():
        print(f"no reference picture at {reference}; run `face-pipeline find PHOTO` with one")
        return 0
    find_job = definitions.resolve_job_def("find_person_job")
    report = settings.reports_dir / "demo_find_person.html"
    res = find_job.execute_in_process(
        instance=instance, raise_on_error=False,
        run_config={**QUIET_RUN, "ops": {"choose_reference_face": {"config": {
            "reference_images": [str(reference)], "k": 20, "report_path": str(report)}}}},
    )
    if not res.success:
        print(f"find_person run {res.run_id} failed", file=sys.stderr)
        return 1
    from face_pipeline.lib.report import matches_text

    print(matches_text(res.output_for_node("search_face_vectors")))
    print(f"report: {report}")
    print("next: `face-pipeline ui` opens the Dagster UI on the same database")
    return 0


def cmd_ui(args) -> int:
    from face_pipeline.runtime import PROJECT_DIR, prepare

    rt = prepare(_settings(args))
    print(f"database: {redact_dsn(rt.dsn)}; DAGSTER_HOME={rt.dagster_home}; UI on http://{args.host}:{args.port}")
    cmd = [sys.executable, "-m", "dagster", "dev", "-w", str(PROJECT_DIR / "workspace.yaml"),
           "--host", args.host, "--port", str(args.port)]
    proc = subprocess.Popen(cmd, cwd=PROJECT_DIR)
    # On SIGTERM too, stop Dagster first, then let atexit stop the embedded PostgreSQL cleanly.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            return proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()


def cmd_reembed(args) -> int:
    settings, store = _store(_settings(args))
    from face_pipeline.lib.ingest import ingest_event
    from face_pipeline.lib.maintenance import active_model_ids, stale_events

    model_id, detector_model = active_model_ids(settings)
    stale = stale_events(settings, store)
    print(f"active models: detector {detector_model}, embedder {model_id}; {len(stale)} stale event(s): {stale}")
    if args.dry_run:
        return 0
    for event in stale[: args.batch or None]:
        rep = ingest_event(settings, store, event, progress=_progress)
        print(f"  {event}: {rep.written.vectors} vectors of {rep.embeddings.model_id}")
    return 0


def cmd_prune_models(args) -> int:
    settings, store = _store(_settings(args))
    from face_pipeline.lib.maintenance import old_vector_counts, prune_old_vectors

    counts = old_vector_counts(settings, store)
    if not counts:
        print("no old vectors: every stored vector is of the active model or still serves an event")
        return 0
    for model, n in counts.items():
        print(f"  {model}: {n} vectors no event serves")
    if not args.yes:
        print("dry run: add --yes to delete them")
        return 0
    print(f"deleted: {prune_old_vectors(settings, store)}")
    return 0


def cmd_forget_event(args) -> int:
    """Forget an event everywhere the pipeline stored it (the photo folder is the user's and stays)."""
    event = validate_event_name(args.event)
    settings, store = _store(_settings(args))
    from face_pipeline.lib import forget

    code = forget.main(["event", event, *(["--yes"] if args.yes else [])], settings=settings, store=store,
                       after=lambda r: _forget_dagster_runs(settings, args.yes, events={event}))
    if args.yes:
        try:
            from face_pipeline.runtime import prepare

            prepare(settings)
            instance = _dagster_instance()
            if instance.has_dynamic_partition("events", event):
                instance.delete_dynamic_partition("events", event)
                print(f"removed the Dagster partition {event!r} (its run history stays)")
        except Exception as exc:  # the data is gone either way; say why the partition stayed
            print(f"note: could not remove the Dagster partition: {exc}", file=sys.stderr)
    return code


def cmd_forget_person(args) -> int:
    settings, store = _store(_settings(args))
    from face_pipeline.lib import forget

    argv = ["person", *args.references]
    if args.threshold is not None:
        argv += ["--threshold", str(args.threshold)]
    if args.event:
        argv += ["--events", *args.event]
    if args.face_index is not None:
        argv += ["--face-index", str(args.face_index)]
    return forget.main(argv + (["--yes"] if args.yes else []), settings=settings, store=store,
                       after=lambda r: _forget_dagster_runs(settings, args.yes, photos=set(r.photos)))


def _forget_dagster_runs(settings: Settings, delete: bool, *, events: set[str] = frozenset(),
                         photos: set[tuple[str, str]] = frozenset()) -> None:
    """List (or delete) the Dagster runs whose metadata show these events' faces or these photos:
    face previews of ingest runs, match thumbnails of lookup runs (face_pipeline/defs/history.py)."""
    if not events and not photos:
        return
    try:
        from face_pipeline.defs.history import delete_runs, runs_showing
        from face_pipeline.runtime import prepare

        prepare(settings)
        instance = _dagster_instance()
        runs = runs_showing(instance, events=events, photos=photos)
    except Exception as exc:  # the rows and files are dealt with either way; say what was not
        print(f"note: could not read Dagster's run records, so runs that show these faces were not checked: {exc}",
              file=sys.stderr)
        return
    ingest = [r for r in runs if r.kind == "ingest"]
    lookups = [r for r in runs if r.kind == "lookup"]
    what = (f"{len(runs)} Dagster run(s) with pictures of these faces ({len(ingest)} ingest run(s) with face "
            f"previews of {', '.join(sorted({e for r in ingest for e in r.events})) or 'no event'}, "
            f"{len(lookups)} find_person run(s) with match thumbnails)")
    if not runs:
        print("no Dagster run has pictures of these faces")
    elif delete:
        delete_runs(instance, runs)
        print(f"deleted {what}; `face-pipeline ingest EVENT` gives an event a run history again "
              "(nothing is recomputed)")
    else:
        print(f"{what}: --yes deletes them too")


# ---- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    env_help = "\n".join(f"  FACE_PIPELINE_{k:<17} {v[1]} (default: {v[0] or 'empty'})" for k, v in VARIABLES.items())
    p = argparse.ArgumentParser(
        prog="face-pipeline", description="Find every photo of a person among event photos.",
        epilog="settings (environment variables):\n" + env_help, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--photos-root", help="overrides FACE_PIPELINE_PHOTOS_ROOT")
    p.add_argument("--data-dir", help="overrides FACE_PIPELINE_DATA_DIR")
    p.add_argument("--detector", help="overrides FACE_PIPELINE_DETECTOR")
    p.add_argument("--embedder", help="overrides FACE_PIPELINE_EMBEDDER")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("demo", help="set up demo photos, run the ingest job and a lookup")
    s.add_argument("--reference", help="reference picture (default: an LFW photo of Joe Biden from ../shared)")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("ingest", help="ingest event folders")
    s.add_argument("events", nargs="*", help="event names (default: every folder under the photos root)")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("backfill", help="run the Dagster ingest job for many events, one run each")
    s.add_argument("events", nargs="*", help="event names (default: every folder under the photos root)")
    s.set_defaults(func=cmd_backfill)

    s = sub.add_parser("find", help="find the photos a person is in")
    s.add_argument("references", nargs="+", help="reference picture(s) of one person")
    s.add_argument("-k", type=int, default=50, help="at most this many photos (default 50)")
    s.add_argument("--threshold", type=float, help="distance cut-off (default: the model's calibrated one)")
    s.add_argument("--event", action="append", help="limit to this event (repeatable)")
    s.add_argument("--model", help="search only vectors of this model id")
    s.add_argument("--face-index", type=int, help="which face of the reference (0 = largest)")
    # choices = lib.search.ENROL_MODES, spelled out so that `--help` does not import the models
    s.add_argument("--enrol", choices=["mean", "min", "centroid"], default=None,
                   help="how several references score a face: mean distance to them (default), nearest, "
                        "or distance to their mean vector")
    s.add_argument("--no-expand", action="store_true",
                   help="no second search from the confident hits (query expansion, on by default)")
    s.add_argument("--html", help="where to write the HTML report (default DATA_DIR/reports/find_person.html)")
    s.add_argument("--no-html", action="store_true")
    s.set_defaults(func=cmd_find)

    s = sub.add_parser("events", help="list events")
    s.set_defaults(func=cmd_events)

    s = sub.add_parser("db", help="database status or migrations")
    s.add_argument("action", choices=["status", "migrate"])
    s.set_defaults(func=cmd_db)

    s = sub.add_parser("ui", help="start the Dagster UI (webserver + daemon)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=3000)
    s.set_defaults(func=cmd_ui)

    s = sub.add_parser("reembed", help="re-run events whose vectors come from another model")
    s.add_argument("--dry-run", action="store_true")
    s.add_argument("--batch", type=int, default=0, help="at most this many events (0 = all)")
    s.set_defaults(func=cmd_reembed)

    s = sub.add_parser("prune-models", help="delete vectors of models no event serves any more")
    s.add_argument("--yes", action="store_true")
    s.set_defaults(func=cmd_prune_models)

    s = sub.add_parser("forget-event", help="forget an event: rows, vectors, crops, stage files (dry run without --yes)")
    s.add_argument("event")
    s.add_argument("--yes", action="store_true", help="delete (default: list what would be deleted)")
    s.set_defaults(func=cmd_forget_event)

    s = sub.add_parser("forget-person", help="forget every stored face of a person (dry run without --yes)")
    s.add_argument("references", nargs="+", help="reference picture(s) of the person")
    s.add_argument("--threshold", type=float, help="distance cut-off (default: the model's)")
    s.add_argument("--event", action="append", help="only this event (repeatable)")
    s.add_argument("--face-index", type=int, help="which face of the reference (0 = largest)")
    s.add_argument("--yes", action="store_true", help="delete (default: list what would be deleted)")
    s.set_defaults(func=cmd_forget_person)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from face_pipeline.lib.detectors import UnknownModel
    from face_pipeline.lib.embedded_postgres import EmbeddedPostgresError
    from face_pipeline.lib.event_lock import EventBusy
    from face_pipeline.lib.events import EventFolderMissing, InvalidEventName
    from face_pipeline.lib.images import PhotoRejected
    from face_pipeline.lib.model_files import ModelFilesMissing
    from face_pipeline.lib.search import LookupError_
    from face_pipeline.lib.store import DatabaseUnavailable, MigrationError

    try:
        return args.func(args)
    except (CliError, InvalidEventName, EventFolderMissing, LookupError_, DatabaseUnavailable, MigrationError,
            UnknownModel, ModelFilesMissing, EmbeddedPostgresError, EventBusy) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PhotoRejected as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
