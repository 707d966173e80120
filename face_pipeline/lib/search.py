""""Find me": from reference pictures of one person to the event photos they are in.

The steps mirror the find_person job's ops: load the references, pick the face in each, embed it
with the model each event is served by, query pgvector, and collapse faces to one row per photo
(its best face), with a calibrated confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from face_pipeline.lib.errors import UserError
from face_pipeline.lib.events import validate_event_name
from face_pipeline.lib.images import DecodedPhoto, load_rgb
from face_pipeline.lib.models import (
    DetectedFace,
    FaceEmbedder,
    ModelFolders,
    UnknownModel,
    distance,
    embedder_for_model_id,
    find_faces,
    get_detector,
)
from face_pipeline.lib.models.faces import resize
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.store import FaceMatch, VectorStore


class UnanswerableLookup(UserError):
    """A lookup that can not be answered as asked; the message says why and what to do."""


class NoFaceInReference(UnanswerableLookup):
    pass


class AmbiguousReference(UnanswerableLookup):
    pass


class NoVectors(UnanswerableLookup):
    pass


@dataclass
class ReferenceFace:
    path: str
    face: DetectedFace
    faces_found: int
    chosen_index: int
    photo: DecodedPhoto = field(repr=False)


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


@dataclass
class FindResult:
    references: list[ReferenceFace]
    matches: list[PhotoMatch]
    threshold: float
    models: dict[str, list[str]]  # model_id -> events answered by it
    faces_considered: int


# A second face at least this fraction of the largest one's area makes "the largest" a guess.
AMBIGUOUS_AREA_RATIO = 0.6


def choose_face(faces: list[DetectedFace], face_index: int | None, path: str) -> tuple[int, DetectedFace]:
    """The face to search for: `face_index` if given (0 = largest), else the clearly largest one."""
    if not faces:
        raise NoFaceInReference(
            f"no face found in the reference picture {path}; use a photo where the face is visible, "
            "frontal and at least ~40 pixels wide"
        )
    if face_index is not None:
        if not 0 <= face_index < len(faces):
            raise UnanswerableLookup(f"face_index {face_index} is out of range: {path} has {len(faces)} face(s) (0 = largest)")
        return face_index, faces[face_index]
    if len(faces) > 1 and faces[1].area >= AMBIGUOUS_AREA_RATIO * faces[0].area:
        boxes = ", ".join(f"{i}: {f.box}" for i, f in enumerate(faces))
        raise AmbiguousReference(
            f"{path} shows {len(faces)} faces of similar size ({boxes}); choose one with face_index "
            "(0 = largest)"
        )
    return 0, faces[0]


def load_reference(settings: Settings, path: str | Path, *, detector: str | None = None,
                   face_index: int | None = None) -> ReferenceFace:
    photo = load_rgb(path, max_pixels=settings.max_image_pixels, max_side=settings.max_work_side)
    det = get_detector(detector or settings.detector, settings.model_folders)
    faces = find_faces(photo.rgb, det)
    if not faces and max(photo.rgb.shape[:2]) < 1200:
        # A reference is one picture: spend more time on it. Twice the size finds faces that were
        # too small for the detector (a thumbnail, a profile photo with a distant face).
        faces = [_halved(f) for f in find_faces(resize(photo.rgb, 2.0), det)]
    index, face = choose_face(faces, face_index, str(path))
    return ReferenceFace(str(path), face, len(faces), index, photo)


def _halved(face: DetectedFace) -> DetectedFace:
    """A face found on the image at twice its size, in the image's own pixels."""
    box = tuple(int(round(v / 2)) for v in face.box)
    return replace(face, box=box, landmarks=None if face.landmarks is None else face.landmarks / 2)


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
            m.event, m.photo_id, m.path, m.distance, embedder.confidence(m.distance), m.box, m.face_id,
            m.crop_path, m.width, m.height, m.model_id, count,
        )
    return sorted(best.values(), key=lambda p: (p.distance, p.event, p.path))


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


def load_references(
    settings: Settings,
    references: Sequence[str | Path] | str | Path,
    *,
    face_index: int | None = None,
    detector: str | None = None,
) -> list[ReferenceFace]:
    """Decode each reference picture and choose the face to search for (first step of a lookup)."""
    if isinstance(references, (str, Path)):
        references = [references]
    if not references:
        raise UnanswerableLookup("give at least one reference picture")
    return [load_reference(settings, r, detector=detector, face_index=face_index) for r in references]


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
) -> FindResult:
    """Embed the reference faces with each serving model, query pgvector, one row per photo.

    Several references enrol the person (`enrol`, default DEFAULT_ENROL); `expand` (default
    DEFAULT_EXPAND) adds confident hits as references for a second search. Each photo answers
    once, by its best face, with the embedder's calibrated confidence.
    """
    if k < 1:
        raise UnanswerableLookup(f"k must be at least 1, got {k}")
    enrol = enrol or DEFAULT_ENROL
    expand = DEFAULT_EXPAND if expand is None else expand
    if enrol not in ENROL_MODES:
        raise UnanswerableLookup(f"unknown enrolment {enrol!r}; choose one of {ENROL_MODES}")
    all_matches: list[PhotoMatch] = []
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
        by_face = nearest_faces(store, embedder.embed(crops), embedder, mid, events=event_filter,
                                limit=max(3 * k, 100), enrol=enrol, expand=expand)
        considered += len(by_face)
        all_matches.extend(collapse_to_photos(list(by_face.values()), embedder, t))
    all_matches.sort(key=lambda p: (p.distance, p.event, p.path))
    return FindResult(refs, all_matches[:k], float(used_threshold), groups, considered)


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


def enrol_distances(candidates: np.ndarray, references: np.ndarray, metric: str, mode: str = DEFAULT_ENROL) -> np.ndarray:
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
) -> dict[str, FaceMatch]:
    """Candidate faces for one person and their distance to the enrolled references.

    Candidates are the `limit` nearest faces of each reference (and of their mean, which ranks
    best); each is then scored against all references with `enrol`. With `expand`, confident
    hits become references too (see EXPAND_MIN_CONFIDENCE). Photos in `exclude_paths` are neither
    returned nor used for expansion (the reference photo itself, when it is also stored).
    """
    references = np.atleast_2d(np.asarray(references, dtype=np.float32))
    if len(references) == 0:
        return {}
    found: dict[str, FaceMatch] = {}

    def search(vectors: np.ndarray) -> None:
        for q in vectors:
            for m in store.search_faces(q, model_id=model_id, dim=embedder.dim, metric=embedder.metric,
                                        events=events, limit=limit):
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


def find_person(
    settings: Settings,
    store: VectorStore,
    references: Sequence[str | Path] | str | Path,
    *,
    k: int = 50,
    threshold: float | None = None,
    events: Sequence[str] | None = None,
    model_id: str | None = None,
    face_index: int | None = None,
    detector: str | None = None,
    enrol: str | None = None,
    expand: bool | None = None,
) -> FindResult:
    """Photos that show the person of the reference picture(s), best first, at most `k`.

    The find_person Dagster job runs the same three steps as separate ops. `enrol` and `expand`
    (default: the module's DEFAULT_ENROL / DEFAULT_EXPAND) are described at search_with_references.
    """
    groups = resolve_serving_models(store, events, model_id)
    refs = load_references(settings, references, face_index=face_index, detector=detector)
    return search_with_references(store, refs, groups, k=k, threshold=threshold, events_limited=bool(events),
                                  enrol=enrol, expand=expand, folders=settings.model_folders)
