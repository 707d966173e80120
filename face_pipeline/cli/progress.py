"""Progress and counts on long work: a bar on a terminal, a line every ~10 % in a log."""

import sys


def print_progress(name: str, done: int, total: int) -> None:
    if not sys.stderr.isatty():
        if done == total or done % max(1, total // 10) == 0:
            print(f"  {name}: {done}/{total}", file=sys.stderr, flush=True)
        return
    width = 30
    filled = width * done // max(1, total)
    end = "\n" if done == total else ""
    print(
        f"\r  {name:<16} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end=end, file=sys.stderr, flush=True
    )
