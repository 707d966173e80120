""" "Find me": from reference pictures of one person to the event photos they are in.

The search steps of `lookup` (lookup.py, the one entry point): embed the chosen reference faces with
the model each event is served by, query pgvector, and collapse faces to one row per photo (its best
face), with a calibrated confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from face_pipeline.lib.models import ModelFolders, UnknownModel, embedder_for_model_id
from face_pipeline.lib.photos.events import validate_event_name
from face_pipeline.lib.search.errors import NoVectors, UnanswerableLookup
from face_pipeline.lib.search.references import ReferenceFace
from face_pipeline.lib.search.scoring import (
    DEFAULT_ENROL,
    DEFAULT_EXPAND,
    ENROL_MODES,
    PhotoMatch,
    candidate_photos,
    collapse_to_photos,
    nearest_faces,
)
from face_pipeline.lib.store import VectorStore


@dataclass
class FindResult:
    references: list[ReferenceFace]
    matches: list[PhotoMatch]
    threshold: float
    models: dict[str, list[str]]  # model_id -> events answered by it
    faces_considered: int
    person: str | None = None  # the person (lib/people) the matches belong to, when grouped
    person_name: str | None = None
    #: "Is this you too?": photos just past the threshold (CANDIDATE_MARGIN), nearest first
    candidates: list[PhotoMatch] = field(default_factory=list)


def resolve_serving_models(
    store: VectorStore, events: Sequence[str] | None = None, model_id: str | None = None
) -> dict[str, list[str]]:
    """model_id -> the events whose lookups it answers (each event is served by one model)."""
    events = [validate_event_name(e) for e in events] if events else None
    serving = store.serving_models(events)
    if events:
        missing = [e for e in events if e not in serving]
        if missing:
            raise NoVectors(f"no stored vectors for event(s) {missing}: ingest them first (face-pipeline ingest)")
    if not serving:
        raise NoVectors("the database holds no face vectors yet: ingest an event first (face-pipeline ingest)")
    groups: dict[str, list[str]] = {}
    for ev, mid in sorted(serving.items()):
        groups.setdefault(mid, []).append(ev)
    if model_id:
        if model_id not in groups:
            raise NoVectors(f"no event is served by model {model_id!r}; stored models: {sorted(groups)}")
        groups = {model_id: groups[model_id]}
    return groups


def search_with_references(
    store: VectorStore,
    refs: list[ReferenceFace],
    groups: dict[str, list[str]],
    *,
    k: int = 50,
    threshold: float | None = None,
    events_limited: bool = False,
    enrol: str | None = None,
    expand: bool | None = None,
    folders: ModelFolders | None = None,
    confirmed_faces: Sequence[str] = (),
    candidates: int = 0,
) -> FindResult:
    """Embed the reference faces with each serving model, query pgvector, one row per photo.

    Several references enrol the person (`enrol`, default DEFAULT_ENROL); `expand` (default
    DEFAULT_EXPAND) adds confident hits as references for a second search. Each photo answers
    once, by its best face, with the embedder's calibrated confidence. `confirmed_faces` (stored
    faces the person said are theirs) join the references with their stored vectors; `candidates`
    asks for up to that many photos just past the threshold ("Is this you too?").
    """
    if k < 1:
        raise UnanswerableLookup(f"k must be at least 1, got {k}")
    enrol = enrol or DEFAULT_ENROL
    expand = DEFAULT_EXPAND if expand is None else expand
    if enrol not in ENROL_MODES:
        raise UnanswerableLookup(f"unknown enrolment {enrol!r}; choose one of {ENROL_MODES}")
    if candidates < 0:
        raise UnanswerableLookup(f"candidates must be 0 or more, got {candidates}")
    all_matches: list[PhotoMatch] = []
    all_candidates: list[PhotoMatch] = []
    considered = 0
    used_threshold = threshold
    for mid, evs in sorted(groups.items()):
        try:
            embedder = embedder_for_model_id(mid, folders)
        except UnknownModel as exc:
            raise NoVectors(str(exc)) from None
        t = threshold if threshold is not None else embedder.default_threshold
        used_threshold = t
        crops = [embedder.crop(r.photo.rgb, r.face) for r in refs]
        event_filter = evs if (events_limited or len(groups) > 1) else None
        by_face = nearest_faces(
            store,
            embedder.embed(crops),
            embedder,
            mid,
            events=event_filter,
            limit=max(3 * k, 100),
            enrol=enrol,
            expand=expand,
            confirmed=confirmed_faces,
        )
        considered += len(by_face)
        faces = list(by_face.values())
        all_matches.extend(collapse_to_photos(faces, embedder, t))
        if candidates:
            all_candidates.extend(candidate_photos(faces, embedder, t))
    all_matches.sort(key=lambda p: (p.distance, p.event, p.path))
    all_candidates.sort(key=lambda p: (p.distance, p.event, p.path))
    return FindResult(
        refs, all_matches[:k], float(used_threshold), groups, considered, candidates=all_candidates[:candidates]
    )
