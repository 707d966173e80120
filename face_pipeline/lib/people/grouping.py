"""Who is who, as a pure function of faces, their links and what is already decided.

Two faces are linked when their identity vectors are within the model's link threshold (each face's
nearest neighbours only). People are the connected groups of linked faces: a group of one face is a
stranger (no person). Adding faces only adds links, so groups only grow or join: updating with one
new event gives the same grouping as grouping everything again, whatever order the events came in.

Two faces of one photo are never one person: a link that would put them together is dropped (links
are taken closest first, so the closer face wins).

What people decided is never undone: a pinned face keeps its person (or stays out of everyone, when
it was moved out) and takes no part in linking; two people who were both decided on (named, merged,
given faces) are never joined by the clustering; a decided person keeps its id when an undecided one
joins it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Assignment:
    person_id: str | None
    pinned: bool = False


@dataclass
class GroupingPlan:
    assign: dict[str, str | None] = field(default_factory=dict)  # face -> person (unpinned faces that change)
    new_people: set[str] = field(default_factory=set)
    merges: dict[str, str] = field(default_factory=dict)  # person -> the person it joins
    groups: list[set[str]] = field(default_factory=list)  # the faces of each group of two or more


def person_id_for(face_ids: Iterable[str]) -> str:
    """A new person's id: from its smallest face id, so that one grouping always gives one id."""
    return "p" + hashlib.sha256(min(face_ids).encode()).hexdigest()[:12]


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> str:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)  # deterministic roots
        return min(ra, rb)


PERSON = "person:"


def plan_grouping(
    faces: Iterable[str],
    links: Iterable[tuple[str, str, float]],
    current: dict[str, Assignment],
    decided: set[str],
    sizes: dict[str, int],
    photo_of: dict[str, str] | None = None,
    person_photos: dict[str, set[str]] | None = None,
) -> GroupingPlan:
    """The changes that group `faces` (and the faces they link to) with what is already there.

    `current`: the faces' present assignments (absent = never grouped); `decided`: people someone made
    a decision about; `sizes`: how many faces each present person has in all; `photo_of`: each face's
    photo, and `person_photos`: the photos each present person is in (two faces of one photo are never
    joined).
    """
    uf = _UnionFind()
    owner: dict[str, str] = {}  # group root -> the decided person in it
    photo_of = photo_of or {}
    photos: dict[str, set[str]] = {}  # group root -> the photos its faces are in
    out_of_everyone = {f for f, a in current.items() if a.pinned and a.person_id is None}
    nodes = set(faces)
    links = [(a, b, d) for a, b, d in links if a not in out_of_everyone and b not in out_of_everyone]
    for a, b, _d in links:
        nodes |= {a, b}
    for f in sorted(nodes):
        uf.find(f)
        if f in photo_of:
            photos[f] = {photo_of[f]}
        person = current[f].person_id if f in current else None
        if person is not None:
            ra, rb = uf.find(f), uf.find(PERSON + person)
            merged = photos.pop(ra, set()) | photos.pop(rb, set()) | (person_photos or {}).get(person, set())
            root = uf.union(f, PERSON + person)
            photos[root] = merged
            if person in decided:
                owner[root] = person
    # Closest links first; a link that would join two decided people is dropped.
    for a, b, _d in sorted(links, key=lambda x: (x[2], x[0], x[1])):
        ra, rb = uf.find(a), uf.find(b)
        if ra == rb:
            continue
        oa, ob = owner.get(ra), owner.get(rb)
        if oa and ob and oa != ob:
            continue
        pa, pb = photos.get(ra, set()), photos.get(rb, set())
        if pa & pb:  # they would put two faces of one photo in one person
            continue
        root = uf.union(a, b)
        photos[root] = pa | pb
        if oa or ob:
            owner[root] = oa or ob
    components: dict[str, set[str]] = {}
    for x in list(uf.parent):
        components.setdefault(uf.find(x), set()).add(x)
    plan = GroupingPlan()
    for members in components.values():
        _plan_component(members, current, decided, sizes, plan)
    return plan


def _plan_component(
    members: set[str], current: dict[str, Assignment], decided: set[str], sizes: dict[str, int], plan: GroupingPlan
) -> None:
    faces = {m for m in members if not m.startswith(PERSON)}
    people = sorted(m[len(PERSON) :] for m in members if m.startswith(PERSON))
    free = {f for f in faces if not current.get(f, Assignment(None)).pinned}
    if not people:
        if len(faces) < 2:
            for f in free:
                if f not in current:
                    plan.assign[f] = None  # a stranger, until a later face links to it
            return
        person = person_id_for(faces)
        plan.new_people.add(person)
    else:
        # one person, or several of which at most one is decided (two decided ones are never linked)
        person = max(people, key=lambda p: (p in decided, sizes.get(p, 0), _inverse(p)))
        for other in people:
            if other != person:
                plan.merges[other] = person
    plan.groups.append(faces)
    for f in free:
        if current.get(f, Assignment(None)).person_id != person:
            plan.assign[f] = person


def _inverse(text: str) -> tuple[int, ...]:
    """Orders ties towards the smaller id under max()."""
    return tuple(-ord(c) for c in text)
