"""The parser, the settings (read once per process), and the one place where a library error becomes
one line on stderr and an exit code (the table is in lib/errors.py and the README, "Exit codes"):
0 done, 1 some events of a batch failed, 2 what the user can fix (settings, names, inputs), 3 a
service failed (cannot connect, an event busy), 4 the database connection was lost during the run,
130 Ctrl-C. Every command runs inside `command_run`, so a server that this command had reached and
then can not reach again is "lost during the run" (4), not "cannot connect" (3)."""

from __future__ import annotations

import argparse
import logging
import sys

import psycopg

from face_pipeline.cli.commands import (
    database,
    demo,
    find,
    forget,
    ingest,
    maintenance,
    models,
    people,
    share,
    ui,
    worker,
)
from face_pipeline.cli.commands.store_access import DAGSTER_STORAGE_ERRORS, dagster_storage_fault
from face_pipeline.lib.errors import EXIT_INTERRUPTED, FacePipelineError
from face_pipeline.lib.photos.files import PhotoRejected
from face_pipeline.lib.settings import VARIABLES, Settings
from face_pipeline.lib.store import (
    command_has_connected,
    command_run,
    connection_lost,
    is_connection_loss,
)

COMMAND_GROUPS = (demo, ingest, find, people, share, database, ui, worker, maintenance, models, forget)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="face-pipeline",
        description="Find every photo of a person among event photos.",
        epilog='Each setting flag overrides its FACE_PIPELINE_* environment variable (README, "Settings").',
    )
    settings_flags = p.add_argument_group("settings")
    for v in VARIABLES:  # one flag per setting, named after it; values are checked by Settings
        secret = " (holds a password: better in the environment variable)" if v.secret else ""
        settings_flags.add_argument(
            v.flag,
            dest=v.field,
            metavar=v.field.upper(),
            help=f"{v.meaning}; default {v.shown_default}; env {v.env_name}{secret}".replace("%", "%%"),
        )
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.add_commands(sub)
    return p


def settings_from(args: argparse.Namespace) -> Settings:
    """The process's settings: environment variables, then the command line's flags."""
    return Settings.from_env(**{v.field: getattr(args, v.field) for v in VARIABLES})


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    with command_run():  # the handlers below still see what the command had connected to
        try:
            settings = settings_from(args)
            return args.run(args, settings)
        except PhotoRejected as exc:  # a reference picture that can not be read
            print(f"error: {exc.message}", file=sys.stderr)
            return exc.exit_code
        except FacePipelineError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
        except psycopg.OperationalError as exc:  # a query of any command whose connection broke under it
            if not is_connection_loss(exc):
                raise
            lost = connection_lost(exc, f"`face-pipeline {args.command}`")
            print(f"error: {lost}", file=sys.stderr)
            return lost.exit_code
        except DAGSTER_STORAGE_ERRORS as exc:  # Dagster's own storage, after its retries
            fault = dagster_storage_fault(exc, during_run=command_has_connected())
            print(f"error: {fault}", file=sys.stderr)
            return fault.exit_code
        except KeyboardInterrupt:
            print(
                "interrupted (Ctrl-C): each database write is one transaction, so nothing half-written is kept; "
                "run the command again to finish",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
