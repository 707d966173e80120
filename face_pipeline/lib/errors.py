"""Every error the library raises on purpose, under one root, and the exit codes of every command.

- `UserError`: something the person running the pipeline can fix (a setting, an event name, a
  reference picture, a missing model file with the command that installs it). The CLI prints its
  message as one line and exits with 2; in Dagster it becomes a `dg.Failure` with that message.
- `SystemFault`: something around the pipeline failed (PostgreSQL cannot be reached, another run
  holding an event, the embedded server not starting). The CLI prints one line and exits with 3; in
  Dagster it stays a step failure, so Dagster's retry policies apply.

Messages say what happened and what to do; they never contain a password (DSNs are redacted).
A subclass exists only where some caller handles it differently from its parent (ModelFilesMissing,
PhotoRejected, UnknownModel, EmbeddedPostgresError, the lookup's UnanswerableLookup family, and
ConnectionLost in store/connection.py: a command line batch stops at it and exits with 4); every
other error is raised as one of these with its message, since the CLI and Dagster treat them alike.

Exit codes of every command (README, "Exit codes"; face_pipeline_tests/test_exit_codes.py produces
each): 0 done (files skipped for a reason are reported, not a failure); 1 partial: some events of a
batch failed, the others are done; 2 the user's input or settings (`UserError`); 3 a service failed
(`SystemFault`: cannot connect, pgvector missing, an event busy); 4 the database connection was lost
during the run (`ConnectionLost`, a `SystemFault`: nothing half-written is kept, running the command
again is safe); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USER_ERROR = 2
EXIT_SYSTEM_FAULT = 3
EXIT_CONNECTION_LOST = 4
EXIT_INTERRUPTED = 130


class FacePipelineError(Exception):
    """The root of the library's own errors (never raised itself: each error is one of the classes below)."""

    exit_code = 1


class UserError(FacePipelineError):
    """A problem the user can fix: the message says how."""

    exit_code = EXIT_USER_ERROR


class ConfigError(UserError):
    """A setting (environment variable, CLI flag or Dagster resource field) is invalid."""


class SystemFault(FacePipelineError):
    """A service or resource the pipeline depends on failed; running again may succeed."""

    exit_code = EXIT_SYSTEM_FAULT
