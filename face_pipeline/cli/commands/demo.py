"""`demo`: the README's first command, on the public-domain NASA photos that ship with the package.

It copies the two demo events into the photos root (DATA_DIR/photos unless a photos root is given),
ingests every event with the Dagster `ingest_event` job (one run each, on the embedded PostgreSQL
unless FACE_PIPELINE_DSN is set), then runs the `find_person` job with Richard Mastracchio's
official portrait and prints the photos he is in, with the HTML report's path.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from face_pipeline.cli.commands.ingest import (
    QUIET_RUN,
    batch_exit_code,
    run_failure,
    run_ingest_jobs,
)
from face_pipeline.cli.commands.store_access import dagster_instance
from face_pipeline.lib.bundled_files import demo_dir
from face_pipeline.lib.errors import EXIT_CONNECTION_LOST, UserError
from face_pipeline.lib.maintenance import load_active_models
from face_pipeline.lib.photos.events import list_event_folders
from face_pipeline.lib.report import matches_text
from face_pipeline.lib.settings import ENV_PREFIX, Settings, redact_dsn
from face_pipeline.lib.store import VectorStore
from face_pipeline.runtime import prepare

DEMO_REFERENCE = "reference/mastracchio_portrait.jpg"


def add_commands(sub) -> None:
    s = sub.add_parser("demo", help="ingest the bundled demo photos with the Dagster job, then find a person")
    s.add_argument("--reference", help="reference picture (default: the bundled portrait of Richard Mastracchio)")
    s.set_defaults(run=cmd_demo)


def copy_demo_events(photos_root: Path) -> list[str]:
    """Copy the bundled demo events into `photos_root` (those not there yet); returns their names."""
    made = []
    for folder in sorted((demo_dir() / "photos").iterdir()):
        target = photos_root / folder.name
        if folder.is_dir() and not target.exists():
            shutil.copytree(folder, target)
            made.append(folder.name)
    return made


def cmd_demo(args, settings: Settings) -> int:
    from face_pipeline.definitions import build_definitions

    if not args.photos_root and ENV_PREFIX + "PHOTOS_ROOT" not in os.environ:
        settings = settings.with_overrides(photos_root=settings.local_dir / "photos")
    load_active_models(settings)
    if not list_event_folders(settings.photos_root)[0]:
        made = copy_demo_events(settings.photos_root)
        print(
            f"demo photos: copied events {made} into {settings.photos_root} "
            "(public-domain NASA photos, see face_pipeline/demo/SOURCE.md)"
        )
    runtime = prepare(settings)
    settings = runtime.settings
    print(
        f"database: {redact_dsn(settings.dsn)} ({'embedded' if runtime.embedded else 'external'}); "
        f"Dagster storage: {redact_dsn(settings.dagster_pg_url)}; DAGSTER_HOME={runtime.dagster_home}"
    )
    applied = VectorStore(settings.dsn).migrate()
    if applied:
        print(f"migrations applied: {', '.join(applied)}")
    definitions = build_definitions(settings)
    instance = dagster_instance()
    events, invalid = list_event_folders(settings.photos_root)
    for name in invalid:
        print(f"skipping folder {name!r}: not a valid event name")
    outcome = run_ingest_jobs(definitions, instance, events, trigger="demo")
    if EXIT_CONNECTION_LOST in outcome.values():
        return EXIT_CONNECTION_LOST  # the lookup would fail the same way (the ingest said why)
    reference = Path(args.reference) if args.reference else demo_dir() / DEMO_REFERENCE
    if not reference.is_file():
        raise UserError(f"no reference picture at {reference}")
    report = settings.reports_dir / "demo_find_person.html"
    res = definitions.resolve_job_def("find_person_job").execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={
            **QUIET_RUN,
            "ops": {
                "find_photos": {"config": {"reference_images": [str(reference)], "k": 20, "report_path": str(report)}}
            },
        },
    )
    if not res.success:
        code, why = run_failure(res)
        print(f"find_person run {res.run_id} failed: {why}", file=sys.stderr)
        return code
    print(matches_text(res.output_for_node("find_photos", "result")))
    print(f"report: {report}")
    print(
        f"next: FACE_PIPELINE_PHOTOS_ROOT={settings.photos_root} face-pipeline ui  "
        "(the Dagster UI on the same database)"
    )
    return batch_exit_code(list(outcome.values()))
