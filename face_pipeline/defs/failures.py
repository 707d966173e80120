"""The one place where the library's errors meet Dagster: a UserError (a bad setting, a missing
folder, a reference without a face) becomes a `dg.Failure` whose description is the library's
sentence, shown as is in the UI; a SystemFault (database down, an event busy) stays a step error, so
that the assets' retry policies apply to it."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from face_pipeline.lib.errors import UserError


@contextmanager
def user_errors_as_failures() -> Iterator[None]:
    try:
        yield
    except UserError as exc:
        raise dg.Failure(description=str(exc)) from exc
