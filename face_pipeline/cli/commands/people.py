"""`people`: the people found across events, and people's decisions about them.

face-pipeline people                      list (photo and event counts; hidden ones with --all)
face-pipeline people show PERSON          a person's photos and face ids
face-pipeline people name PERSON NAME     give a name (found by `find --person NAME` from then on)
face-pipeline people merge PERSON INTO    two people are one
face-pipeline people move FACE PERSON|-   a face is someone else's, or ('-') nobody we know
face-pipeline people hide PERSON          leave a person out of the list and the people page
face-pipeline people update [EVENT ...]   group the faces of events (what the `people` asset does)
face-pipeline people recluster            group every face again (decisions are kept)
face-pipeline people page                 write the HTML people page
"""

from __future__ import annotations

import sys

from face_pipeline.cli.commands.ingest import events_to_ingest
from face_pipeline.cli.commands.store_access import open_store
from face_pipeline.lib.people import (
    PeopleStore,
    hide_person,
    merge_people,
    move_face,
    name_person,
    recluster,
    resolve_person,
    update_people_for_event,
)
from face_pipeline.lib.report.people_page import write_people_page
from face_pipeline.lib.settings import Settings


def add_commands(sub) -> None:
    p = sub.add_parser("people", help="people across events: list, show, name, merge, move, hide, update, page")
    p.set_defaults(run=cmd_list, all=False)
    actions = p.add_subparsers(dest="action")
    s = actions.add_parser("list", help="every person, with photo and event counts")
    s.add_argument("--all", action="store_true", help="hidden people too")
    s.set_defaults(run=cmd_list)
    s = actions.add_parser("show", help="a person's photos and face ids")
    s.add_argument("person", help="name or id")
    s.set_defaults(run=cmd_show)
    s = actions.add_parser("name", help="name a person")
    s.add_argument("person")
    s.add_argument("name", nargs="+")
    s.set_defaults(run=cmd_name)
    s = actions.add_parser("merge", help="two people are one: PERSON joins INTO")
    s.add_argument("person")
    s.add_argument("into")
    s.set_defaults(run=cmd_merge)
    s = actions.add_parser("move", help="a face is PERSON's, or nobody's we know ('-')")
    s.add_argument("face_id")
    s.add_argument("person")
    s.set_defaults(run=cmd_move)
    s = actions.add_parser("hide", help="leave a person out of the list and the people page")
    s.add_argument("person")
    s.add_argument("--show", action="store_true", help="show a hidden person again")
    s.set_defaults(run=cmd_hide)
    s = actions.add_parser("update", help="group the faces of these events (default: all stored events)")
    s.add_argument("events", nargs="*")
    s.set_defaults(run=cmd_update)
    s = actions.add_parser("recluster", help="group every face again; people's decisions are kept")
    s.set_defaults(run=cmd_recluster)
    s = actions.add_parser("page", help="write the HTML people page")
    s.add_argument("--html", help="where (default DATA_DIR/reports/people.html)")
    s.set_defaults(run=cmd_page)


def cmd_list(args, settings: Settings) -> int:
    settings, store = open_store(settings)
    rows = [p for p in PeopleStore(store).list_people() if args.all or not p.hidden]
    print(f"{'person':<15}{'name':<28}{'photos':>7}{'events':>7}{'faces':>7}")
    for p in rows:
        print(
            f"{p.person_id:<15}{(p.name or '-') + (' (hidden)' if p.hidden else ''):<28}{p.photos:>7}{p.events:>7}"
            f"{p.faces:>7}"
        )
    print(f"{len(rows)} people")
    return 0


def cmd_show(args, settings: Settings) -> int:
    settings, store = open_store(settings)
    person = resolve_person(store, args.person)
    people = PeopleStore(store)
    name = people.people([person])[person].name
    faces = people.faces_of_person(person)
    print(f"{person} {name or '(no name)'}: {len(faces)} faces")
    for f in faces:
        print(
            f"  {f.event}/{f.path}  face {f.face_index} {list(f.box)}  {f.face_id}{'  (decided)' if f.pinned else ''}"
        )
    return 0


def cmd_name(args, settings: Settings) -> int:
    settings, store = open_store(settings)
    name = " ".join(args.name)
    print(f"{name_person(store, args.person, name)} is now {name!r}")
    return 0


def cmd_merge(args, settings: Settings) -> int:
    settings, store = open_store(settings)
    print(f"{args.person} joined {merge_people(store, args.person, args.into)}")
    return 0


def cmd_move(args, settings: Settings) -> int:
    settings, store = open_store(settings)
    to = None if args.person == "-" else args.person
    person = move_face(store, args.face_id, to)
    print(f"face {args.face_id} is now {person or 'nobody we know'} (a decision no re-cluster undoes)")
    return 0


def cmd_hide(args, settings: Settings) -> int:
    settings, store = open_store(settings)
    person = hide_person(store, args.person, hidden=not args.show)
    print(f"{person} is {'shown' if args.show else 'hidden'}")
    return 0


def cmd_update(args, settings: Settings) -> int:
    settings, store = open_store(settings)
    events = events_to_ingest(settings, args.events) if args.events else sorted(store.serving_models())
    for event in events:
        u = update_people_for_event(settings, store, event)
        print(
            f"{event}: {u.faces} faces, {u.links} links; {u.assigned} with a person ({len(u.people)} people, "
            f"{u.new_people} new, {u.merged} merged), {u.strangers} strangers [{u.seconds:.1f}s]"
        )
    return 0


def cmd_recluster(args, settings: Settings) -> int:
    settings, store = open_store(settings)
    for r in recluster(settings, store, progress=lambda line: print(line, file=sys.stderr, flush=True)):
        print(
            f"{r.model_id}: {r.faces} faces, {r.links} links, {r.people} people ({r.kept_ids} kept their id) "
            f"[{r.seconds:.1f}s]",
            file=sys.stdout,
        )
    return 0


def cmd_page(args, settings: Settings) -> int:
    settings, store = open_store(settings)
    print(f"people page: {write_people_page(settings, store, args.html)}")
    return 0
