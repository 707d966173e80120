"""`find`: the photos a person is in, from reference picture(s)."""

from pathlib import Path

from face_pipeline.cli.commands.store_access import open_store
from face_pipeline.lib.report import matches_text, write_html_report
from face_pipeline.lib.search import ENROL_MODES, LookupRequest, lookup
from face_pipeline.lib.settings import Settings


def add_commands(sub) -> None:
    s = sub.add_parser("find", help="find the photos a person is in")
    s.add_argument("references", nargs="*", help="reference picture(s) of one person")
    s.add_argument("--person", help="a person's name or id instead of reference pictures (face-pipeline people)")
    s.add_argument(
        "--with-person-photos",
        action="store_true",
        help="also the photos of the matching person that the reference alone does not reach",
    )
    s.add_argument("-k", type=int, default=50, help="at most this many photos (default 50)")
    s.add_argument("--threshold", type=float, help="distance cut-off (default: the model's calibrated one)")
    s.add_argument("--event", action="append", help="limit to this event (repeatable)")
    s.add_argument("--model", help="search only vectors of this model id")
    s.add_argument("--face-index", type=int, help="which face of the reference (0 = largest)")
    s.add_argument(
        "--enrol",
        choices=list(ENROL_MODES),
        default=None,
        help="how several references score a face: mean distance to them (default), nearest, "
        "or distance to their mean vector",
    )
    s.add_argument(
        "--no-expand",
        action="store_true",
        help="no second search from the confident hits (query expansion, on by default)",
    )
    s.add_argument(
        "--confirmed-face",
        action="append",
        default=[],
        metavar="FACE_ID",
        help="a stored face confirmed as this person (from --candidates): a further reference (repeatable)",
    )
    s.add_argument(
        "--candidates",
        type=int,
        default=0,
        metavar="N",
        help="also list up to N photos just past the threshold, to confirm with --confirmed-face",
    )
    s.add_argument("--html", help="where to write the HTML report (default DATA_DIR/reports/find_person.html)")
    s.add_argument("--no-html", action="store_true")
    s.set_defaults(run=cmd_find)


def lookup_request(args) -> LookupRequest:
    """The flags as the one lookup's request (the Dagster job and the participant page build the same)."""
    return LookupRequest(
        references=tuple(args.references),
        person=args.person,
        with_person_photos=args.with_person_photos,
        k=args.k,
        threshold=args.threshold,
        events=tuple(args.event) if args.event else None,
        model_id=args.model,
        face_index=args.face_index,
        enrol=args.enrol,
        expand=not args.no_expand,
        confirmed_faces=tuple(args.confirmed_face),
        candidates=args.candidates,
    )


def cmd_find(args, settings: Settings) -> int:
    request = lookup_request(args)
    settings, store = open_store(settings)
    result = lookup(settings, store, request)
    print(matches_text(result))
    if not args.no_html:
        path = write_html_report(settings, result, Path(args.html) if args.html else None)
        print(f"report: {path}")
    return 0
