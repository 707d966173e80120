"""Grouping faces into people, incrementally (one event's faces at a time, as the `people` asset runs
after face_vectors) or all over again (`face-pipeline people recluster`, an explicit command)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from face_pipeline.lib.models import FaceEmbedder, detector_model_id, embedder_for_model_id
from face_pipeline.lib.models.faces import iou
from face_pipeline.lib.people.grouping import Assignment, GroupingPlan, plan_grouping
from face_pipeline.lib.people.people_store import PeopleStore
from face_pipeline.lib.search.errors import NoVectors
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.store import VectorStore

#: Each face links to at most this many nearest faces (within the model's link threshold): enough for
#: a person with many photos to hold together, few enough that a lookup stays cheap.
NEIGHBOURS = 20
#: A face found by another detector at this overlap (IoU) in the same photo is the same face: after a
#: detector switch, it inherits who it is.
SAME_FACE_IOU = 0.5
BATCH = 256  # faces per neighbour query


@dataclass
class PeopleUpdate:
    event: str
    model_id: str
    faces: int = 0
    links: int = 0
    assigned: int = 0
    strangers: int = 0
    new_people: int = 0
    merged: int = 0
    inherited: int = 0
    seconds: float = 0.0
    people: list[str] = field(default_factory=list)  # the people this event's faces belong to


def serving_model(store: VectorStore, event: str) -> str:
    served = store.serving_models([event])
    if event not in served:
        raise NoVectors(f"event {event!r} has no stored vectors: ingest it first (face-pipeline ingest {event})")
    return served[event]


def events_served_by(store: VectorStore, model_id: str) -> list[str]:
    return sorted(e for e, m in store.serving_models().items() if m == model_id)


def links_of(
    people: PeopleStore,
    face_ids: list[str],
    embedder: FaceEmbedder,
    model_id: str,
    events: list[str],
    *,
    parallel: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[tuple[str, str, float]]:
    return people.links(
        face_ids,
        model_id=model_id,
        dim=embedder.dim,
        metric=embedder.metric,
        events=events,
        limit=NEIGHBOURS,
        within=embedder.link_threshold,
        batch=BATCH,
        parallel=parallel,
        progress=progress,
    )


def update_people_for_event(settings: Settings, store: VectorStore, event: str) -> PeopleUpdate:
    """Group one event's faces with everyone already known (serving model's vectors)."""
    t0 = time.perf_counter()
    people = PeopleStore(store)
    model_id = serving_model(store, event)
    embedder = embedder_for_model_id(model_id, settings.model_folders)
    faces = people.event_faces(event, model_id)
    face_ids = [f.face_id for f in faces]
    inherited = inherit_from_other_detector(settings, people, event, faces)
    links = links_of(people, face_ids, embedder, model_id, events_served_by(store, model_id))
    involved = sorted({*face_ids, *(b for _a, b, _d in links)})
    current = {**people.assignments(involved), **{f: Assignment(p, True) for f, p in inherited.items()}}
    plan = _plan(people, face_ids, links, current)
    people.apply(plan, pinned=inherited)
    report = PeopleUpdate(
        event,
        model_id,
        len(faces),
        len(links),
        inherited=len(inherited),
        new_people=len(plan.new_people),
        merged=len(plan.merges),
    )
    final = people.assignments(face_ids)
    report.assigned = sum(1 for a in final.values() if a.person_id)
    report.strangers = len(face_ids) - report.assigned
    report.people = sorted({a.person_id for a in final.values() if a.person_id})
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def _plan(people: PeopleStore, face_ids: list[str], links, current: dict[str, Assignment]) -> GroupingPlan:
    persons = sorted({a.person_id for a in current.values() if a.person_id})
    records = people.people(persons)
    decided = {p for p, r in records.items() if r.decided}
    involved = sorted({*face_ids, *(f for link in links for f in link[:2])})
    return plan_grouping(
        face_ids,
        links,
        current,
        decided,
        people.sizes(persons),
        people.photos_of(involved),
        people.photos_of_people(persons),
    )


def inherit_from_other_detector(settings: Settings, people: PeopleStore, event: str, faces) -> dict[str, str | None]:
    """Faces that are new (another detector found them) but overlap a face that a person already
    decided about, in the same photo: they inherit that decision (face -> person, or None = out)."""
    known = people.assignments([f.face_id for f in faces])
    fresh = [f for f in faces if f.face_id not in known]
    if not fresh:
        return {}
    detector_model = detector_model_id(settings.detector)
    decided = [o for o in people.assigned_faces_of_other_detectors(event, detector_model) if o.pinned]
    out = {}
    for f in fresh:
        for other in decided:
            if other.photo_id == f.photo_id and iou(f.box, other.box) >= SAME_FACE_IOU:
                out[f.face_id] = other.person_id
                break
    return out


@dataclass
class Recluster:
    model_id: str
    faces: int
    links: int
    people: int
    kept_ids: int  # people whose id survived (most of their faces are together again)
    seconds: float


def recluster(settings: Settings, store: VectorStore, progress: Callable[[str], None] | None = None) -> list[Recluster]:
    """Group every face again from its links, keeping people's decisions and, for each new group, the id
    of the person most of its faces had before (ids stay stable where the grouping does). The neighbour
    queries run `settings.worker_count()` at once; `progress` hears how far they are, every tenth."""
    people = PeopleStore(store)
    out = []
    for model_id in sorted(set(store.serving_models().values())):
        t0 = time.perf_counter()
        embedder = embedder_for_model_id(model_id, settings.model_folders)
        face_ids = people.faces_of_model(model_id)
        before = people.assignments(face_ids)
        links = links_of(
            people,
            face_ids,
            embedder,
            model_id,
            events_served_by(store, model_id),
            parallel=settings.worker_count(),
            progress=_every_tenth(model_id, progress),
        )
        pinned = {f: a for f, a in before.items() if a.pinned}
        plan = _plan(people, face_ids, links, pinned)
        kept = _keep_previous_ids(plan, before)
        people.replace_grouping(model_id, plan)
        out.append(
            Recluster(model_id, len(face_ids), len(links), len(plan.groups), kept, round(time.perf_counter() - t0, 3))
        )
    return out


def _every_tenth(model_id: str, say: Callable[[str], None] | None) -> Callable[[int, int], None] | None:
    if say is None:
        return None
    t0, said = time.perf_counter(), [0]

    def progress(done: int, total: int) -> None:
        tenth = done * 10 // total
        if tenth > said[0]:
            said[0] = tenth
            say(f"{model_id}: neighbours of {done:,} / {total:,} faces [{time.perf_counter() - t0:.0f}s]")

    return progress


def _keep_previous_ids(plan: GroupingPlan, before: dict[str, Assignment]) -> int:
    """Rename the plan's new people to the id most of their faces had before (each id used once)."""
    rename: dict[str, str] = {}
    used: set[str] = set()
    for group in sorted(plan.groups, key=len, reverse=True):
        person = next((plan.assign[f] for f in group if plan.assign.get(f)), None)
        if person not in plan.new_people:
            continue
        votes = Counter(before[f].person_id for f in group if f in before and before[f].person_id)
        previous = next((p for p, _n in votes.most_common() if p not in used), None)
        if previous:
            rename[person] = previous
            used.add(previous)
    plan.new_people = {rename.get(p, p) for p in plan.new_people}
    plan.assign = {f: rename.get(p, p) if p else p for f, p in plan.assign.items()}
    return len(rename)
