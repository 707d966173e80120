"""`reembed` (events whose vectors come from other models than the active ones) and `prune-models`."""

from face_pipeline.cli.commands.ingest import ingest_summary
from face_pipeline.cli.commands.store_access import open_store
from face_pipeline.cli.progress import print_progress
from face_pipeline.lib.ingest import ingest_event
from face_pipeline.lib.maintenance import (
    active_model_ids,
    old_vector_counts,
    prune_old_vectors,
    stale_events,
)
from face_pipeline.lib.settings import Settings


def add_commands(sub) -> None:
    s = sub.add_parser("reembed", help="re-run events whose vectors come from another model")
    s.add_argument("--dry-run", action="store_true")
    s.add_argument("--batch", type=int, default=0, help="at most this many events (0 = all)")
    s.set_defaults(run=cmd_reembed)
    s = sub.add_parser("prune-models", help="delete vectors of models no event serves any more")
    s.add_argument("--yes", action="store_true")
    s.set_defaults(run=cmd_prune_models)


def cmd_reembed(args, settings: Settings) -> int:
    settings, store = open_store(settings)
    model_id, detector_model = active_model_ids(settings)
    stale = stale_events(settings, store)
    print(f"active models: detector {detector_model}, embedder {model_id}; {len(stale)} stale event(s): {stale}")
    if args.dry_run:
        return 0
    for event in stale[: args.batch or None]:
        report = ingest_event(settings, store, event, progress=print_progress)
        print(f"  {event}: {report.written.vectors} vectors of {report.embeddings.model_id}")
        print(ingest_summary(report))
    return 0


def cmd_prune_models(args, settings: Settings) -> int:
    settings, store = open_store(settings)
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
