"""Progress of a long step: (done, total) callbacks; the CLI draws a bar, Dagster logs a line."""

from collections.abc import Callable

Progress = Callable[[int, int], None]


def no_progress(done: int, total: int) -> None:
    pass
