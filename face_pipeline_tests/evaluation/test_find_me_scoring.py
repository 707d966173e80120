"""Enrolment and query expansion of find-me, on vectors placed by hand in a real pgvector store."""

from __future__ import annotations

import math

import numpy as np
import pytest

from face_pipeline.lib.models import get_embedder
from face_pipeline.lib.search import (
    EXPAND_MIN_CONFIDENCE,
    UnanswerableLookup,
    collapse_to_photos,
    enrol_distances,
    nearest_faces,
)
from face_pipeline.lib.store import EventWrite, FaceRow, PhotoRow, face_id_for


def _vec(x: float, y: float = 0.0) -> np.ndarray:
    v = np.zeros(128, dtype=np.float32)
    v[0], v[1] = x, y
    return v


def test_enrol_distances_by_hand():
    refs = np.stack([_vec(0, 0), _vec(1, 0)])
    cand = _vec(0, 1)[None, :]
    assert enrol_distances(cand, refs, "l2", "min")[0] == pytest.approx(1.0, abs=1e-6)
    assert enrol_distances(cand, refs, "l2", "mean")[0] == pytest.approx((1 + math.sqrt(2)) / 2, abs=1e-6)
    assert enrol_distances(cand, refs, "l2", "centroid")[0] == pytest.approx(math.sqrt(1.25), abs=1e-6)
    with pytest.raises(UnanswerableLookup):
        enrol_distances(cand, refs, "l2", "median")


def _write(store, event: str, vectors: dict[str, np.ndarray]) -> None:
    photos, faces = [], []
    for name in vectors:
        pid = name.ljust(32, "0")
        photos.append(PhotoRow(pid, f"{name}.jpg", 1, 100, 100, None, 1))
        faces.append(
            FaceRow(
                face_id=face_id_for(event, pid, "test", 0),
                photo_id=pid,
                face_index=0,
                box=(0, 0, 10, 10),
                score=1.0,
                landmarks=[0.0] * 10,
                crop_path="",
            )
        )
    store.replace_event(
        EventWrite(event, "test", "dlib-resnet-v1-flip", photos, faces, np.stack(list(vectors.values())))
    )


def test_query_expansion_reaches_a_face_through_a_confident_hit(store):
    emb = get_embedder("dlib-resnet-v1-flip")
    # A is a confident hit (0.40 from the reference); B is 0.55 away (outside the threshold) but
    # 0.15 from A; C is 0.55 away on the other side (0.95 from A).
    assert emb.confidence(0.40) >= EXPAND_MIN_CONFIDENCE > emb.confidence(0.55)
    _write(store, "expansion", {"a": _vec(0.40), "b": _vec(0.55), "c": _vec(-0.55), "ref": _vec(0.0)})
    ref = _vec(0.0)[None, :]

    plain = nearest_faces(
        store,
        ref,
        emb,
        emb.model_id,
        events=["expansion"],
        limit=10,
        expand=False,
        exclude_paths=frozenset({"ref.jpg"}),
    )
    got = {m.path: m.distance for m in plain.values()}
    assert got == pytest.approx({"a.jpg": 0.40, "b.jpg": 0.55, "c.jpg": 0.55}, abs=1e-5)

    expanded = nearest_faces(
        store, ref, emb, emb.model_id, events=["expansion"], limit=10, expand=True, exclude_paths=frozenset({"ref.jpg"})
    )
    got = {m.path: m.distance for m in expanded.values()}
    # mean distance to {reference, A}: A (0.40 + 0) / 2, B (0.55 + 0.15) / 2, C (0.55 + 0.95) / 2
    assert got == pytest.approx({"a.jpg": 0.20, "b.jpg": 0.35, "c.jpg": 0.75}, abs=1e-5)
    answered = [p.path for p in collapse_to_photos(list(expanded.values()), emb, emb.default_threshold)]
    assert answered == ["a.jpg", "b.jpg"]


def test_a_reference_subject_is_a_confident_face_not_the_largest_shadow():
    """A blurred selfie: a sure face (0.99) and a larger false one on the shirt (0.8). The subject
    is the sure face; two sure faces of a size still ask which one."""
    from face_pipeline.lib.models import DetectedFace
    from face_pipeline.lib.search import AmbiguousReference, choose_face

    shirt = DetectedFace((100, 600, 600, 1000), 0.8)
    face = DetectedFace((230, 140, 440, 440), 0.99)
    assert choose_face([shirt, face], None, "selfie.jpg", (1024, 683, 3)) == (1, face)
    friend = DetectedFace((20, 20, 230, 320), 0.98)
    beside = DetectedFace((460, 20, 670, 320), 0.99)
    with pytest.raises(AmbiguousReference) as asked:
        choose_face([friend, beside], None, "group.jpg", (400, 700, 3))
    assert asked.value.faces == [friend, beside]
    # detectors whose scores are not probabilities (dlib's) keep choosing by size
    assert (
        choose_face(
            [DetectedFace((0, 0, 300, 300), 2.5), DetectedFace((400, 0, 500, 100), 3.0)], None, "x", (600, 600, 3)
        )[0]
        == 0
    )
