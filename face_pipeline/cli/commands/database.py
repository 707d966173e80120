"""`events` (what the database holds per event) and `db status|migrate`."""

from face_pipeline.cli.commands.store_access import open_store
from face_pipeline.lib.photos.events import list_event_folders
from face_pipeline.lib.settings import Settings, redact_dsn
from face_pipeline.lib.store import VectorStore
from face_pipeline.runtime import prepare


def add_commands(sub) -> None:
    s = sub.add_parser("events", help="list events")
    s.set_defaults(run=cmd_events)
    s = sub.add_parser("db", help="database status or migrations")
    s.add_argument("action", choices=["status", "migrate"])
    s.set_defaults(run=cmd_db)


def cmd_events(args, settings: Settings) -> int:
    settings, store = open_store(settings)
    rows = store.event_summaries()
    folders, invalid = list_event_folders(settings.photos_root)
    known = {r["event"] for r in rows}
    print(f"{'event':<24}{'photos':>8}{'faces':>8}{'skipped':>9}  serving model")
    for r in rows:
        print(f"{r['event']:<24}{r['photos']:>8}{r['faces']:>8}{r['skipped']:>9}  {r['serving_model']}")
    for f in folders:
        if f not in known:
            print(f"{f:<24}{'-':>8}{'-':>8}{'-':>9}  (folder not ingested yet)")
    for f in invalid:
        print(f"{f:<24}  invalid event name, ignored")
    return 0


def cmd_db(args, settings: Settings) -> int:
    runtime = prepare(settings, with_dagster=False)
    store = VectorStore(runtime.settings.dsn)
    if args.action == "migrate":
        applied = store.migrate()
        print(f"applied: {', '.join(applied) or 'nothing (up to date)'}")
        return 0
    where = f"embedded, {settings.embedded_pg_dir}" if runtime.embedded else "external"
    print(f"database: {redact_dsn(runtime.settings.dsn)} ({where})")
    migrations = store.applied_migrations()
    print(f"migrations applied: {', '.join(m.name for m in migrations) or 'none (run: face-pipeline db migrate)'}")
    if migrations:
        for table, n in store.counts().items():
            print(f"  {table:<14}{n:>10}")
    return 0
