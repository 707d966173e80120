"""People: faces grouped into persons across events (grouping.py: who is who, from links between
faces and people's decisions; update.py: one event at a time, or all again), the tables
(people_store.py) and people's decisions (decisions.py); finding by person is lib/search/by_person.py."""

from face_pipeline.lib.people.decisions import (
    hide_person,
    merge_people,
    move_face,
    name_person,
    resolve_person,
)
from face_pipeline.lib.people.people_store import PeopleStore, PersonSummary
from face_pipeline.lib.people.update import PeopleUpdate, recluster, update_people_for_event

__all__ = [
    "PeopleStore",
    "PeopleUpdate",
    "PersonSummary",
    "hide_person",
    "merge_people",
    "move_face",
    "name_person",
    "recluster",
    "resolve_person",
    "update_people_for_event",
]
