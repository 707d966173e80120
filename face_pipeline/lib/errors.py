"""Every error the library raises on purpose, under one root.

- `UserError`: something the person running the pipeline can fix (a setting, an event name, a
  reference picture, a missing model file with the command that installs it). The CLI prints its
  message as one line and exits with 2; in Dagster it becomes a `dg.Failure` with that message.
- `SystemFault`: something around the pipeline failed (PostgreSQL down, another run holding an
  event, the embedded server not starting). The CLI prints one line and exits with 3; in Dagster it
  stays a step failure, so Dagster's retry policies apply.

Messages say what happened and what to do; they never contain a password (DSNs are redacted).
A subclass exists only where some caller handles it differently from its parent (ModelFilesMissing,
PhotoRejected, UnknownModel, EmbeddedPostgresError, the lookup's UnanswerableLookup family); every
other error is raised as one of these with its message, since the CLI and Dagster treat them alike.
"""

from __future__ import annotations


class FacePipelineError(Exception):
    """The root of the library's own errors."""

    exit_code = 1


class UserError(FacePipelineError):
    """A problem the user can fix: the message says how."""

    exit_code = 2


class ConfigError(UserError):
    """A setting (environment variable, CLI flag or Dagster resource field) is invalid."""


class SystemFault(FacePipelineError):
    """A service or resource the pipeline depends on failed; running again may succeed."""

    exit_code = 3
