"""What people decide about people: a name, two people who are one, a face that is someone else (or
no one we know), a person to hide. Each decision is written to the people tables at once and marks
what it touched as decided, which the clustering never undoes (grouping.py)."""

from __future__ import annotations

import unicodedata

import psycopg

from face_pipeline.lib.errors import UserError
from face_pipeline.lib.people.people_store import PeopleStore
from face_pipeline.lib.store import VectorStore


class InvalidPersonName(UserError):
    """A name that would break a listing, a report or a terminal line (control characters), or too long."""


#: Zero-width (non-)joiners are part of how some names are written (Persian, Indic scripts, emoji).
_JOINERS = {"\u200c", "\u200d"}
#: The longest name accepted, in characters: a full name with titles fits; a pasted paragraph does not.
MAX_NAME_LENGTH = 100


def validate_person_name(name: str) -> str:
    """The name as stored (outer spaces removed), or InvalidPersonName saying what to change.

    Control and format characters (newline, tab, NUL, escape sequences, bidi overrides) are refused:
    a newline splits `people list` and CSV exports, an escape sequence rewrites the terminal, a
    right-to-left override shows another name than the one stored.
    """
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise InvalidPersonName("give a name (it may contain spaces)")
    bad = sorted({c for c in name if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c not in _JOINERS})
    if bad:
        shown = ", ".join(f"U+{ord(c):04X}" for c in bad)
        raise InvalidPersonName(
            f"invalid person name {name!r}: it contains control characters ({shown}); "
            "use letters, digits, spaces and punctuation on one line"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidPersonName(f"invalid person name: {len(name)} characters, at most {MAX_NAME_LENGTH}")
    return name


def resolve_person(store: VectorStore, ref: str) -> str:
    """A person's id from its id or its name (a merged id leads to the person it joined)."""
    people = PeopleStore(store)
    by_name = people.person_by_name(ref)
    if by_name:
        return by_name
    records = people.people([ref])
    if ref not in records:
        raise UserError(f"no person is called or numbered {ref!r}; `face-pipeline people` lists them")
    seen = {ref}
    while records[ref].merged_into:
        ref = records[ref].merged_into
        if ref in seen:
            break
        seen.add(ref)
        records.update(people.people([ref]))
    return ref


def name_person(store: VectorStore, ref: str, name: str) -> str:
    name = validate_person_name(name)
    person = resolve_person(store, ref)
    try:
        PeopleStore(store).decide("name_person", person_id=person, name=name)
    except psycopg.errors.UniqueViolation:
        other = PeopleStore(store).person_by_name(name)
        raise UserError(
            f"{name!r} already names person {other}; merge the two with `face-pipeline people merge {person} {other}`"
        ) from None
    return person


def hide_person(store: VectorStore, ref: str, hidden: bool = True) -> str:
    person = resolve_person(store, ref)
    PeopleStore(store).decide("hide_person", person_id=person, hidden=hidden)
    return person


def merge_people(store: VectorStore, ref: str, into_ref: str) -> str:
    """`ref` is the same person as `into_ref`: its faces join it, and its id leads there from now on."""
    person, into = resolve_person(store, ref), resolve_person(store, into_ref)
    if person == into:
        raise UserError(f"{ref!r} and {into_ref!r} are already one person ({person})")
    records = PeopleStore(store).people([person, into])
    if records[person].name and records[into].name:
        raise UserError(
            f"both people have names ({records[person].name!r}, {records[into].name!r}); "
            "rename or merge the other way round after choosing which name stays"
        )
    name = records[person].name
    PeopleStore(store).merge(person, into)
    if name and not records[into].name:
        PeopleStore(store).decide("name_person", person_id=into, name=name)
    return into


def move_face(store: VectorStore, face_id: str, to_ref: str | None) -> str | None:
    """A face is `to_ref`'s (or, with None, nobody's we know): pinned, so no re-cluster moves it back."""
    people = PeopleStore(store)
    if not people.face_exists(face_id):
        raise UserError(f"no face {face_id!r}; `face-pipeline people show PERSON` lists face ids")
    person = resolve_person(store, to_ref) if to_ref else None
    before = people.assignments([face_id]).get(face_id)
    people.decide("pin_face", face_id=face_id, person_id=person)
    touched = [p for p in (person, before.person_id if before else None) if p]
    if touched:
        people.decide("mark_decided", person_ids=touched)
    return person
