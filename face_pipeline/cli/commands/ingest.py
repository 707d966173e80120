"""`ingest` (the library, in this process) and `backfill` (Dagster's ingest_event job, one run per event)."""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor

import dagster as dg
import psycopg

from face_pipeline.cli.commands.store_access import dagster_instance, open_store
from face_pipeline.cli.progress import print_progress
from face_pipeline.definitions import build_definitions, ingest_event_for_workers
from face_pipeline.lib.errors import (
    EXIT_CONNECTION_LOST,
    EXIT_OK,
    EXIT_PARTIAL,
    FacePipelineError,
    UserError,
)
from face_pipeline.lib.ingest import EventReport, ingest_event
from face_pipeline.lib.maintenance import load_active_models
from face_pipeline.lib.photos.events import list_event_folders, validate_event_name
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.store import ConnectionLost, VectorStore, connection_lost, is_connection_loss
from face_pipeline.runtime import prepare

#: Runs of a backfill on workers in flight at once (each run's steps go to whichever worker is free).
PARALLEL_RUNS_ON_WORKERS = 4

# execute_in_process logs every step event at DEBUG; a terminal wants the INFO lines only.
QUIET_RUN = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def add_commands(sub) -> None:
    s = sub.add_parser("ingest", help="ingest event folders")
    s.add_argument("events", nargs="*", help="event names (default: every folder under the photos root)")
    s.set_defaults(run=cmd_ingest)
    s = sub.add_parser("backfill", help="run the Dagster ingest job for many events, one run each")
    s.add_argument("events", nargs="*", help="event names (default: every folder under the photos root)")
    s.set_defaults(run=cmd_backfill)


def events_to_ingest(settings: Settings, named: list[str]) -> list[str]:
    """The events named on the command line (validated), or every valid folder under the photos root."""
    if named:
        return [validate_event_name(e) for e in named]
    events, invalid = list_event_folders(settings.photos_root)
    for name in invalid:
        print(
            f"skipping folder {name!r}: not a valid event name (lower-case letters, digits, '-', '_')", file=sys.stderr
        )
    if not events:
        raise UserError(f"no event folders under {settings.photos_root} (expected <photos root>/<event>/...)")
    return events


def batch_exit_code(codes: list[int]) -> int:
    """The exit code of a batch from its events' codes (README, "Exit codes"): 0 when every event is
    done; 4 when the database connection was lost (the batch stopped there); 1 when some events are
    done and others failed; else, none done, the failures' own code (2 a missing folder or a bad
    name, 3 an event busy; the highest of them)."""
    failed = [c for c in codes if c != EXIT_OK]
    if not failed:
        return EXIT_OK
    if EXIT_CONNECTION_LOST in failed:
        return EXIT_CONNECTION_LOST
    return EXIT_PARTIAL if len(failed) < len(codes) else max(failed)


def _stopped(done: int, total: int) -> None:
    print(
        f"stopped: {done} of {total} events done; run the command again when the database is back "
        "(events already done are not redone)",
        file=sys.stderr,
    )


def cmd_ingest(args, settings: Settings) -> int:
    """Each event in turn; a failed event is reported and the others go on, except when the database
    connection is lost: then every further event would fail the same way, so the batch stops (exit 4;
    "cannot connect" at the next step's connection counts, since this command had connected)."""
    events = events_to_ingest(settings, args.events)
    load_active_models(settings)  # a missing model file: one message, before any event starts
    settings, store = open_store(settings)  # "cannot connect" here is exit 3: nothing was started
    codes: list[int] = []
    for event in events:
        print(f"event {event}:", file=sys.stderr)
        try:
            report = ingest_event(settings, store, event, progress=print_progress)
        except (ConnectionLost, psycopg.OperationalError) as exc:
            if not isinstance(exc, ConnectionLost) and not is_connection_loss(exc):
                raise
            lost = exc if isinstance(exc, ConnectionLost) else connection_lost(exc, f"the ingest of {event!r}")
            print(f"  FAILED: {lost}", file=sys.stderr)
            _stopped(codes.count(EXIT_OK), len(events))
            return batch_exit_code([*codes, lost.exit_code])
        except FacePipelineError as exc:
            codes.append(exc.exit_code)
            print(f"  FAILED: {exc} (the event's stored rows are unchanged)", file=sys.stderr)
            continue
        codes.append(EXIT_OK)
        print(ingest_summary(report))
        for s in [*report.manifest.skipped, *report.faces.skipped]:
            print(f"    skipped {s.relpath}: {s.reason}", file=sys.stderr)
        for i in report.manifest.ignored:
            print(f"    ignored {i.message}", file=sys.stderr)
    return batch_exit_code(codes)


def ingest_summary(report: EventReport) -> str:
    """One line of counts. Photos, new photos and skipped files are what the database write stored
    (a photo whose header reads but whose pixels do not is a skipped file, never also a photo; "new"
    is new to the database, also after an interrupted run); stored + skipped + ignored = the files
    in the event folder."""
    m, f, e, w = report.manifest, report.faces, report.embeddings, report.written
    return (
        f"  {w.photos} photos stored ({w.photos_new} new, {w.photos_removed} removed), {w.skipped} skipped, "
        f"{m.ignored_files} hidden ignored; {w.faces} faces ({f.detected_photos} photos detected, "
        f"{f.reused_photos} reused); {e.embedded} embedded, {e.reused} reused; wrote {w.vectors} vectors"
        f"; {report.people.assigned} faces in {len(report.people.people)} people ({report.people.new_people} new) "
        f"[{', '.join(f'{k} {v:.1f}s' for k, v in report.seconds.items())}]"
    )


def run_ingest_jobs(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    events: list[str],
    *,
    trigger: str,
    on_workers: bool = False,
) -> dict[str, int]:
    """Run the ingest_event job once per event (one Dagster run each, recorded in the instance);
    returns each run's exit code (0 done, else its error's code, `run_failure`).

    One run per event, as the assets' BackfillPolicy asks: a failed event leaves the others done and
    its own previous rows untouched (face_vectors writes in one transaction). `on_workers`: the runs
    go through the job's own executor (celery: each step on a worker, `face-pipeline worker`), a few
    events at a time; otherwise each run executes in this process, and a run that lost the database
    connection stops the batch (the events after it are left out of the answer).
    """
    missing = [e for e in events if not instance.has_dynamic_partition("events", e)]
    if missing:
        instance.add_dynamic_partitions("events", missing)
    if not on_workers:
        job = definitions.resolve_job_def("ingest_event")
        codes: dict[str, int] = {}
        for event in events:
            codes[event] = _report_run(
                event,
                job.execute_in_process(
                    partition_key=event,
                    instance=instance,
                    raise_on_error=False,
                    run_config=QUIET_RUN,
                    tags={"face_pipeline/trigger": trigger, "face_pipeline/event": event},
                ),
            )
            if codes[event] == EXIT_CONNECTION_LOST:
                break
        return codes

    # One process per run in flight, as a run launcher gives each run its own: runs started from
    # threads of one process hung before submitting their first step (dagster-celery 0.29).
    with ProcessPoolExecutor(
        max_workers=min(len(events), PARALLEL_RUNS_ON_WORKERS), mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        return dict(zip(events, pool.map(_run_on_executor, events, [trigger] * len(events)), strict=True))


def _run_on_executor(event: str, trigger: str) -> int:
    """One ingest run through the job's own executor, in a process of its own (its instance from
    DAGSTER_HOME, its settings from the environment the CLI exported)."""
    tags = {"face_pipeline/trigger": trigger, "face_pipeline/event": event, "dagster/partition": event}
    with (
        dg.DagsterInstance.get() as instance,
        dg.execute_job(dg.reconstructable(ingest_event_for_workers), instance, run_config=QUIET_RUN, tags=tags) as res,
    ):
        return _report_run(event, res)


def _error_classes() -> dict[str, type[FacePipelineError]]:
    """The library's error classes by name (a Dagster run records an error's class by its name)."""
    found, todo = {}, [FacePipelineError]
    while todo:
        cls = todo.pop()
        found.setdefault(cls.__name__, cls)
        todo.extend(cls.__subclasses__())
    return found


def run_failure(res) -> tuple[int, str]:
    """(exit code, message) of a failed Dagster run, from its first step failure's error: the code of
    the first library error in the error's chain (a UserError arrives as the cause of a dg.Failure,
    a ConnectionLost inside Dagster's step error), 1 for any other error."""
    failure = next((e for e in res.all_events if e.is_step_failure), None)
    error = failure.step_failure_data.error if failure else None
    why = error.message.strip() if error else ""
    classes = _error_classes()
    while error is not None:
        if error.cls_name in classes:
            return classes[error.cls_name].exit_code, why
        error = error.cause or error.context
    return EXIT_PARTIAL, why


def _report_run(event: str, res) -> int:
    """Print one line for the run of an event (its counts, or why it failed); its exit code."""
    if not res.success:
        code, why = run_failure(res)
        print(f"event {event}: ingest run {res.run_id[:8]} FAILED: {why}", file=sys.stderr)
        return code
    summary = next(
        m for m in res.get_asset_materialization_events() if m.asset_key == dg.AssetKey("face_vectors")
    ).step_materialization_data.materialization
    counts = summary.metadata["summary"].value  # JSON written by face_vectors for programs like this one
    print(
        f"event {event}: {counts['photos']} photos ({counts['new']} new, {counts['changed']} changed, "
        f"{counts['removed']} removed, {counts['skipped_files']} skipped), {counts['faces']} faces, "
        f"{counts['vectors']} vectors, run {res.run_id[:8]}",
        flush=True,
    )
    return EXIT_OK


def cmd_backfill(args, settings: Settings) -> int:
    events = events_to_ingest(settings, args.events)
    runtime = prepare(settings)
    VectorStore(runtime.settings.dsn).migrate()
    codes = run_ingest_jobs(
        build_definitions(runtime.settings),
        dagster_instance(),
        events,
        trigger="backfill",
        on_workers=runtime.settings.executor == "celery",
    )
    failed = [e for e, code in codes.items() if code != EXIT_OK]
    print(f"backfill: {len(codes) - len(failed)} event(s) done, {len(failed)} failed {failed or ''}")
    if len(codes) < len(events):
        _stopped(len(codes) - len(failed), len(events))
    return batch_exit_code(list(codes.values()))
