"""Finding by person (the people of lib/people): every photo of a named (or numbered) person, and a
reference lookup told which person it found, optionally with that person's other photos (those its
grouping links to the person although the reference alone is too far from them)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np

from face_pipeline.lib.models import distance, embedder_for_model_id
from face_pipeline.lib.people.decisions import resolve_person
from face_pipeline.lib.people.people_store import PeopleStore, PersonFace
from face_pipeline.lib.search.errors import NoVectors
from face_pipeline.lib.search.find import FindResult
from face_pipeline.lib.search.scoring import EXPAND_MIN_CONFIDENCE, PhotoMatch, stored_vectors
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.store import VectorStore


def photos_of_person(settings: Settings, store: VectorStore, ref: str, *, k: int = 50) -> FindResult:
    """The photos a person is in (one row per photo, its face of the person), nearest to the person's
    own centre first, with the embedder's confidence for that distance."""
    person = resolve_person(store, ref)
    people = PeopleStore(store)
    faces = people.faces_of_person(person)
    if not faces:
        raise NoVectors(f"person {ref!r} has no face any more (forgotten, or moved to others)")
    serving = store.serving_models(sorted({f.event for f in faces}))
    matches, models = [], {}
    for model_id in sorted(set(serving.values())):
        mine = [f for f in faces if serving.get(f.event) == model_id]
        embedder = embedder_for_model_id(model_id, settings.model_folders)
        vectors = stored_vectors(store, [f.face_id for f in mine], model_id, embedder.dim)
        centre = vectors.mean(axis=0)
        d = distance(vectors, centre, embedder.metric)
        matches += [
            _as_match(f, float(x), embedder.confidence(float(x)), model_id) for f, x in zip(mine, d, strict=True)
        ]
        models[model_id] = sorted({f.event for f in mine})
    best: dict[tuple[str, str], PhotoMatch] = {}
    for m in sorted(matches, key=lambda m: m.distance):
        best.setdefault((m.event, m.photo_id), m)
    ranked = sorted(best.values(), key=lambda p: (p.distance, p.event, p.path))
    name = people.people([person])[person].name
    return FindResult([], ranked[:k], float("nan"), models, len(faces), person, name)


def _as_match(f: PersonFace, d: float, confidence: float, model_id: str, via_person: bool = False) -> PhotoMatch:
    return PhotoMatch(
        f.event,
        f.photo_id,
        f.path,
        d,
        confidence,
        f.box,
        f.face_id,
        f.crop_path,
        f.width,
        f.height,
        model_id,
        1,
        via_person,
    )


def person_of_result(store: VectorStore, result: FindResult) -> str | None:
    """The person most of the confident matches belong to (None when they are strangers)."""
    confident = [m.face_id for m in result.matches if m.confidence >= EXPAND_MIN_CONFIDENCE]
    if not confident:
        return None
    votes = Counter(a.person_id for a in PeopleStore(store).assignments(confident).values() if a.person_id)
    return votes.most_common(1)[0][0] if votes else None


def with_person(settings: Settings, store: VectorStore, result: FindResult, *, add_photos: bool) -> FindResult:
    """The lookup told which person it found; with `add_photos`, also that person's photos the
    reference alone did not reach, with their own distance and confidence (marked via_person)."""
    person = person_of_result(store, result)
    if person is None:
        return result
    people = PeopleStore(store)
    name = people.people([person])[person].name
    result = replace(result, person=person, person_name=name)
    if not add_photos or not result.references:
        return result
    shown = {(m.event, m.photo_id) for m in result.matches}
    extra = [f for f in people.faces_of_person(person) if (f.event, f.photo_id) not in shown]
    if not extra:
        return result
    serving = store.serving_models(sorted({f.event for f in extra}))
    added: dict[tuple[str, str], PhotoMatch] = {}
    for model_id in sorted(set(serving.values())):
        mine = [f for f in extra if serving.get(f.event) == model_id]
        embedder = embedder_for_model_id(model_id, settings.model_folders)
        refs = embedder.embed([embedder.crop(r.photo.rgb, r.face) for r in result.references])
        vectors = stored_vectors(store, [f.face_id for f in mine], model_id, embedder.dim)
        d = np.mean([distance(vectors, r, embedder.metric) for r in refs], axis=0)
        for f, x in zip(mine, d, strict=True):
            m = _as_match(f, float(x), embedder.confidence(float(x)), model_id, via_person=True)
            key = (f.event, f.photo_id)
            if key not in added or m.distance < added[key].distance:
                added[key] = m
    matches = sorted([*result.matches, *added.values()], key=lambda p: (p.via_person, p.distance, p.event, p.path))
    return replace(result, matches=matches)
