"""Progress logs and metadata helpers shared by the assets (Dagster side only)."""

import time

import dagster as dg

from face_pipeline.lib.photos.files import Skipped


def progress_logger(context: dg.AssetExecutionContext | dg.OpExecutionContext, what: str):
    """A progress callback that logs counts about every 10 % (and at the end) of long work."""
    state = {"last": -1, "t0": time.perf_counter()}

    def report(done: int, total: int) -> None:
        if total <= 0:
            return
        decile = done * 10 // total
        if decile != state["last"] or done == total:
            state["last"] = decile
            rate = done / max(1e-6, time.perf_counter() - state["t0"])
            context.log.info(f"{what}: {done}/{total} ({rate:.1f}/s)")

    return report


def skipped_markdown(skipped: list[Skipped], limit: int = 50) -> str:
    if not skipped:
        return "*no file skipped*"
    lines = ["| file | reason | message |", "|---|---|---|"]
    for s in skipped[:limit]:
        lines.append(f"| `{s.relpath}` | {s.reason} | {s.message.replace('|', '/')} |")
    if len(skipped) > limit:
        lines.append(f"| ... | {len(skipped) - limit} more | |")
    return "\n".join(lines)
