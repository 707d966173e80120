""""Find me": from reference pictures of one person to the event photos they are in.

The steps mirror the find_person job's ops: load the references, pick the face in each, embed it
with the model each event is served by, query pgvector, and collapse faces to one row per photo
(its best face), with a calibrated confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from face_pipeline.lib.detectors import DetectedFace, UnknownModel, find_faces, get_detector
from face_pipeline.lib.embedders import EMBEDDERS, FaceEmbedder, get_embedder
from face_pipeline.lib.events import validate_event_name
from face_pipeline.lib.images import DecodedPhoto, load_rgb
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.store import FaceMatch, VectorStore


class LookupError_(ValueError):
    """A lookup that can not be answered as asked; the message says why and what to do."""


class NoFaceInReference(LookupError_):
    pass


class AmbiguousReference(LookupError_):
    pass


class NoVectors(LookupError_):
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
            raise LookupError_(f"face_index {face_index} is out of range: {path} has {len(faces)} face(s) (0 = largest)")
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
    det = get_detector(detector or settings.detector)
    faces = find_faces(photo.rgb, det)
    if not faces and det.name == "dlib-hog":
        # A reference is one picture: spend more time on it (2x upsampling finds small faces).
        from face_pipeline.lib.detectors import DlibHogDetector

        faces = find_faces(photo.rgb, DlibHogDetector(upsample=2))
    index, face = choose_face(faces, face_index, str(path))
    return ReferenceFace(str(path), face, len(faces), index, photo)


def embedder_for_model(model_id: str) -> FaceEmbedder:
    """The registered embedder whose model_id is `model_id` (vectors must be compared like with like)."""
    for name in EMBEDDERS:
        try:
            emb = get_embedder(name)
        except Exception:
            continue
        if emb.model_id == model_id:
            return emb
    raise NoVectors(f"vectors of model {model_id!r} are stored but no installed embedder produces them")


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
        raise LookupError_("give at least one reference picture")
    return [load_reference(settings, r, detector=detector, face_index=face_index) for r in references]


def search_with_references(
    store: VectorStore,
    refs: list[ReferenceFace],
    groups: dict[str, list[str]],
    *,
    k: int = 50,
    threshold: float | None = None,
    events_limited: bool = False,
) -> FindResult:
    """Embed the reference faces with each serving model, query pgvector, one row per photo."""
    if k < 1:
        raise LookupError_(f"k must be at least 1, got {k}")
    all_matches: list[PhotoMatch] = []
    considered = 0
    used_threshold = threshold
    for mid, evs in sorted(groups.items()):
        embedder = embedder_for_model(mid)
        t = threshold if threshold is not None else embedder.default_threshold
        used_threshold = t
        crops = [embedder.crop(r.photo.rgb, r.face) for r in refs]
        queries = embedder.embed(crops)
        limit = max(3 * k, 100)
        # Several references: a face's distance is its distance to the nearest reference.
        by_face: dict[str, FaceMatch] = {}
        event_filter = evs if (events_limited or len(groups) > 1) else None
        for q in queries:
            for m in store.search_faces(q, model_id=mid, dim=embedder.dim, metric=embedder.metric,
                                        events=event_filter, limit=limit):
                if m.face_id not in by_face or m.distance < by_face[m.face_id].distance:
                    by_face[m.face_id] = m
        considered += len(by_face)
        all_matches.extend(collapse_to_photos(list(by_face.values()), embedder, t))
    all_matches.sort(key=lambda p: (p.distance, p.event, p.path))
    return FindResult(refs, all_matches[:k], float(used_threshold), groups, considered)


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
) -> FindResult:
    """Photos that show the person of the reference picture(s), best first, at most `k`.

    The find_person Dagster job runs the same three steps as separate ops.
    """
    groups = resolve_serving_models(store, events, model_id)
    refs = load_references(settings, references, face_index=face_index, detector=detector)
    return search_with_references(store, refs, groups, k=k, threshold=threshold, events_limited=bool(events))


def reference_vector(settings: Settings, path: str | Path, embedder_name: str, face_index: int | None = None) -> np.ndarray:
    """The embedding of a reference picture's chosen face (for scripts and the evaluation harness)."""
    try:
        emb = get_embedder(embedder_name)
    except UnknownModel:
        raise
    ref = load_reference(settings, path, face_index=face_index)
    return emb.embed([emb.crop(ref.photo.rgb, ref.face)])[0]
