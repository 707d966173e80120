"""How candidate faces are scored for one person: enrolment from several references, query expansion,
and one answer per photo (its best face) with a calibrated confidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from face_pipeline.lib.models import FaceEmbedder, distance
from face_pipeline.lib.search.errors import NoVectors, UnanswerableLookup
from face_pipeline.lib.store import FaceMatch, VectorStore


@dataclass
class PhotoMatch:
    event: str
    photo_id: str
    path: str
    distance: float
    confidence: float
    box: tuple[int, int, int, int]
    face_id: str
    crop_path: str
    width: int
    height: int
    model_id: str
    matching_faces: int = 1
    via_person: bool = False  # returned because the matching person is in it, beyond the threshold


# Enrolment from several reference photos: how a face's distances to the references become one.
# "mean": the mean distance to the references. It stays on the scale of a single reference's
#   distance, so one threshold serves 1 or 10 references, and one odd reference cannot carry an
#   impostor in alone (the best of the three on LFW dev, see EVALUATION.md).
# "min": the distance to the nearest reference (the face_recognition habit).
# "centroid": the distance to the mean vector (its distances shrink as references are added, so a
#   fixed threshold means something else for every number of references).
ENROL_MODES = ("mean", "min", "centroid")
DEFAULT_ENROL = "mean"
# Query expansion: photos whose best face is more likely than not the person (calibrated
# confidence at least EXPAND_MIN_CONFIDENCE; at most EXPAND_MAX_HITS photos, one face each) join
# the references for a second search, and every candidate is scored again against the larger set.
# One round only: a second round lets a wrong hit recruit its own look-alikes. EVALUATION.md
# measures it with and without.
DEFAULT_EXPAND = True
EXPAND_MIN_CONFIDENCE = 0.5
EXPAND_MAX_HITS = 10
# "Is this you too?": photos whose best face lies at most this far past the threshold are shown to
# the person (the participant page) to confirm or pass over; a confirmed face widens the search
# (nearest_faces' `confirmed`). Cosine (the shipped FaceNet): chosen by identity folds on LFW (the smallest
# margin reaching 90 % of the widest margin's recall gain; 0.08 on both halves). The band (t, t+0.08]
# then holds 22 of the 32 matches the threshold misses (a band of 0.10 holds no more of them), and a
# participant who answers right takes LFW recall from 0.973 to 0.997 for 1.2 questions per query
# (0.10: the same recall for 1.85) (EVALUATION.md, "Human-confirmed expansion"). L2 (the dlib
# models): not measured there.
CANDIDATE_MARGIN = {"cosine": 0.08, "l2": 0.12}


def collapse_to_photos(faces: list[FaceMatch], embedder: FaceEmbedder, threshold: float) -> list[PhotoMatch]:
    """One row per photo: its best (nearest) face, kept when within the threshold."""
    best: dict[tuple[str, str], PhotoMatch] = {}
    for m in faces:
        if m.distance > threshold:
            continue
        key = (m.event, m.photo_id)
        if key in best:
            best[key].matching_faces += 1
            if m.distance >= best[key].distance:
                continue
            count = best[key].matching_faces
        else:
            count = 1
        best[key] = PhotoMatch(
            m.event,
            m.photo_id,
            m.path,
            m.distance,
            embedder.confidence(m.distance),
            m.box,
            m.face_id,
            m.crop_path,
            m.width,
            m.height,
            m.model_id,
            count,
        )
    return sorted(best.values(), key=lambda p: (p.distance, p.event, p.path))


def candidate_photos(
    faces: list[FaceMatch], embedder: FaceEmbedder, threshold: float, margin: float | None = None
) -> list[PhotoMatch]:
    """The photos whose best face lies just past `threshold` (within `margin`, default
    CANDIDATE_MARGIN of the embedder's metric), nearest first."""
    margin = CANDIDATE_MARGIN.get(embedder.metric, 0.1) if margin is None else margin
    return [p for p in collapse_to_photos(faces, embedder, threshold + margin) if p.distance > threshold]


def _widened_by_confirmed(
    found: dict[str, FaceMatch],
    store: VectorStore,
    confirmed: Sequence[str],
    embedder: FaceEmbedder,
    model_id: str,
    *,
    events: Sequence[str] | None,
    limit: int,
    exclude_paths: frozenset[str],
) -> dict[str, FaceMatch]:
    """`found`, each face at the smaller of its distance there and to the nearest confirmed face."""
    ids = list(dict.fromkeys(confirmed))
    vectors = store.vectors_of(ids, model_id, embedder.dim) if ids else {}
    if not vectors:
        return found
    near = nearest_faces(
        store,
        np.asarray([vectors[f] for f in ids if f in vectors], dtype=np.float32),
        embedder,
        model_id,
        events=events,
        limit=limit,
        enrol="min",
        expand=False,
        exclude_paths=exclude_paths,
    )
    merged = dict(found)
    for face_id, m in near.items():
        if face_id not in merged or m.distance < merged[face_id].distance:
            merged[face_id] = m
    return merged


def enrol_distances(
    candidates: np.ndarray, references: np.ndarray, metric: str, mode: str = DEFAULT_ENROL
) -> np.ndarray:
    """One distance per candidate vector to the person the reference vectors stand for."""
    if mode not in ENROL_MODES:
        raise UnanswerableLookup(f"unknown enrolment {mode!r}; choose one of {ENROL_MODES}")
    references = np.atleast_2d(np.asarray(references, dtype=np.float32))
    candidates = np.atleast_2d(np.asarray(candidates, dtype=np.float32))
    if len(candidates) == 0:
        return np.zeros(0)
    if mode == "centroid":
        return distance(candidates, references.mean(axis=0), metric)
    d = np.stack([distance(candidates, r, metric) for r in references])
    return d.mean(axis=0) if mode == "mean" else d.min(axis=0)


def nearest_faces(
    store: VectorStore,
    references: np.ndarray,
    embedder: FaceEmbedder,
    model_id: str,
    *,
    events: Sequence[str] | None,
    limit: int,
    enrol: str = DEFAULT_ENROL,
    expand: bool = DEFAULT_EXPAND,
    exclude_paths: frozenset[str] = frozenset(),
    confirmed: Sequence[str] = (),
) -> dict[str, FaceMatch]:
    """Candidate faces for one person and their distance to the enrolled references.

    Candidates are the `limit` nearest faces of each reference (and of their mean, which ranks
    best); each is then scored against all references with `enrol`. With `expand`, confident
    hits become references too (see EXPAND_MIN_CONFIDENCE). Photos in `exclude_paths` are neither
    returned nor used for expansion (the reference photo itself, when it is also stored).

    `confirmed` faces ("Is this you too?") only widen it: a face counts at the smaller of its distance
    to the references and to the nearest confirmed face, so every photo the references found stays
    found (mixing them into the mean lost 14 of a person's own photos in a round, in the harness). One
    without a vector of this model (another event's model) adds nothing.
    """
    if confirmed:
        found = nearest_faces(
            store,
            references,
            embedder,
            model_id,
            events=events,
            limit=limit,
            enrol=enrol,
            expand=expand,
            exclude_paths=exclude_paths,
        )
        return _widened_by_confirmed(
            found, store, confirmed, embedder, model_id, events=events, limit=limit, exclude_paths=exclude_paths
        )
    references = np.atleast_2d(np.asarray(references, dtype=np.float32))
    if len(references) == 0:
        return {}
    found: dict[str, FaceMatch] = {}

    def search(vectors: np.ndarray) -> None:
        for q in vectors:
            for m in store.search_faces(
                q, model_id=model_id, dim=embedder.dim, metric=embedder.metric, events=events, limit=limit
            ):
                if m.path not in exclude_paths and m.face_id not in found:
                    found[m.face_id] = m

    def score(refs: np.ndarray) -> dict[str, FaceMatch]:
        ids = list(found)
        vectors = stored_vectors(store, ids, model_id, embedder.dim)
        d = enrol_distances(vectors, refs, embedder.metric, enrol)
        return {fid: replace(found[fid], distance=float(x)) for fid, x in zip(ids, d, strict=True)}

    search(references if len(references) == 1 else np.vstack([references, references.mean(axis=0)]))
    scored = score(references) if len(references) > 1 else found
    if not expand:
        return scored
    best = collapse_to_photos(list(scored.values()), embedder, float("inf"))
    confident = [p for p in best if p.confidence >= EXPAND_MIN_CONFIDENCE][:EXPAND_MAX_HITS]
    extra = stored_vectors(store, [p.face_id for p in confident], model_id, embedder.dim)
    if len(extra) == 0:
        return scored
    search(extra)
    return score(np.vstack([references, extra]))


def stored_vectors(store: VectorStore, face_ids: Sequence[str], model_id: str, dim: int) -> np.ndarray:
    """The stored vectors of `face_ids` for one model, in that order."""
    if not face_ids:
        return np.zeros((0, dim), dtype=np.float32)
    found = store.vectors_of(face_ids, model_id, dim)
    missing = [f for f in face_ids if f not in found]
    if missing:
        raise NoVectors(f"{len(missing)} faces lost their {model_id} vectors during the lookup; run it again")
    return np.asarray([found[f] for f in face_ids], dtype=np.float32).reshape(-1, dim)
