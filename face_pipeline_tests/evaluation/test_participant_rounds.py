"""The harness's simulated participant ('Is this you too?') on vectors placed by hand in a real pgvector
store, searched through the library's own nearest_faces (with confirmed) / candidate_photos."""

from __future__ import annotations

import numpy as np
import pytest

from face_pipeline.evaluation.sections.participant import Round, choose_margin, round_rows, simulate
from face_pipeline.lib.models import get_embedder
from face_pipeline.lib.search import collapse_to_photos
from face_pipeline.lib.search.scoring import (
    CANDIDATE_MARGIN,
    candidate_photos,
    nearest_faces,
)
from face_pipeline.lib.store import EventWrite, FaceRow, PhotoRow, face_id_for

EVENT = "participant"


def _vec(x: float, y: float = 0.0) -> np.ndarray:
    v = np.zeros(128, dtype=np.float32)
    v[0], v[1] = x, y
    return v


def _write(store, vectors: dict[str, np.ndarray]) -> dict[str, str]:
    photos, faces, ids = [], [], {}
    for name in vectors:
        pid = name.ljust(32, "0")
        photos.append(PhotoRow(pid, f"{name}.jpg", 1, 100, 100, None, 1))
        ids[f"{name}.jpg"] = face_id_for(EVENT, pid, "test", 0)
        faces.append(
            FaceRow(
                face_id=ids[f"{name}.jpg"],
                photo_id=pid,
                face_index=0,
                box=(0, 0, 10, 10),
                score=1.0,
                landmarks=[0.0] * 10,
                crop_path="",
            )
        )
    store.replace_event(
        EventWrite(EVENT, "test", "dlib-resnet-v1-flip", photos, faces, np.stack(list(vectors.values())))
    )
    return ids


def _search(store, emb, ref, threshold):
    calls = []

    def search(confirmed):
        calls.append(confirmed)
        found = list(
            nearest_faces(
                store, ref, emb, emb.model_id, events=[EVENT], limit=10, expand=False, confirmed=confirmed
            ).values()
        )
        return collapse_to_photos(found, emb, threshold), candidate_photos(found, emb, threshold)

    return search, calls


def test_a_confirmed_candidate_is_found_and_leads_to_more(store):
    emb = get_embedder("dlib-resnet-v1-flip")
    t, margin = emb.default_threshold, CANDIDATE_MARGIN[emb.metric]
    # From the reference: A within the threshold; B just past it (a candidate, truly the person); C
    # further out than the band, but close to B: found only once B is confirmed (a face counts at its
    # distance to the nearest confirmed face when that is smaller); D an impostor in the band, nearer
    # than B, and as far from B as B from the reference: still in the band once B is confirmed.
    b, c, d = t + margin / 2, t + margin + 0.05, t + margin / 4
    assert c - b <= t and t < min(d, b) <= t + margin
    dx = d * d / (2 * b)
    _write(store, {"a": _vec(t - 0.1), "b": _vec(b), "c": _vec(c), "d": _vec(dx, float(np.sqrt(d * d - dx * dx)))})
    relevant = frozenset({"a.jpg", "b.jpg", "c.jpg"})
    search, calls = _search(store, emb, _vec(0.0)[None, :], t)

    rounds = simulate(search, lambda p: p.path in relevant, relevant)
    assert [r.answer for r in rounds] == [
        frozenset({"a.jpg"}),
        frozenset({"a.jpg", "b.jpg", "c.jpg"}),
        frozenset({"a.jpg", "b.jpg", "c.jpg"}),
        frozenset({"a.jpg", "b.jpg", "c.jpg"}),
    ]
    assert rounds[0].recall == pytest.approx(1 / 3) and rounds[1].recall == 1.0
    assert [r.precision for r in rounds] == [1.0, 1.0, 1.0, 1.0]
    # round 1 asks about B and D (nearest first), confirms B; D is declined and never asked again
    assert [(r.shown, r.confirmed) for r in rounds] == [(0, 0), (2, 1), (0, 0), (0, 0)]
    assert len(calls) == 2  # the search runs again only after a confirmation
    assert not any(r.dropped for r in rounds)  # a confirmation only adds: A stays

    rows = round_rows("set", [rounds], [relevant])
    assert rows[1][4] == f"{2 / 3:+.3f}" and rows[1][6] == 2 and rows[1][8] == "1/1" and rows[1][9] == "0 / 0"

    # a page that forgot the decline: after the search that B's confirmation started, D is shown
    # again, and a person who finds nothing of theirs among the questions stops
    page = simulate(search, lambda p: p.path in relevant, relevant, remember_declined=False)
    assert [(r.shown, r.confirmed) for r in page] == [(0, 0), (2, 1), (1, 0), (0, 0)]
    assert page[-1].answer == rounds[-1].answer


def test_a_participant_who_confirms_nothing_changes_nothing(store):
    emb = get_embedder("dlib-resnet-v1-flip")
    t, margin = emb.default_threshold, CANDIDATE_MARGIN[emb.metric]
    _write(
        store,
        {
            "a": _vec(t - 0.1),
            "b": _vec(t + margin / 2),
            "c": _vec(t + margin / 4, 0.01),
            "d": _vec(0.0, t + margin / 3),
        },
    )
    relevant = frozenset({"a.jpg", "b.jpg"})
    search, calls = _search(store, emb, _vec(0.0)[None, :], t)

    rounds = simulate(search, lambda p: False, relevant, asked=2)
    assert {r.answer for r in rounds} == {frozenset({"a.jpg"})}
    assert {(r.precision, r.recall) for r in rounds} == {(1.0, 0.5)}
    # three candidates, two per round: asked once each, then nothing is left to ask
    assert [r.shown for r in rounds] == [0, 2, 1, 0] and sum(r.confirmed for r in rounds) == 0
    assert calls == [()]  # nothing confirmed: never searched again


def test_choose_margin_takes_the_smallest_reaching_the_share_of_the_widest_gain():
    def run(r0: float, r3: float) -> list[Round]:
        return [Round(frozenset(), 0, 0, 1.0, r0), Round(frozenset(), 1, 1, 1.0, r3)]

    # gains over the two queries: 0.02 -> 0.1, 0.04 -> 0.18, 0.06 -> 0.2 (the widest)
    by_margin = {
        0.02: [run(0.5, 0.6), run(0.5, 0.6)],
        0.04: [run(0.5, 0.68), run(0.5, 0.68)],
        0.06: [run(0.5, 0.7), run(0.5, 0.7)],
    }
    assert choose_margin(by_margin, [0, 1]) == 0.04
    assert choose_margin({m: [run(0.5, 0.5)] for m in (0.02, 0.04)}, [0]) == CANDIDATE_MARGIN["cosine"]


def test_a_confirmation_never_takes_away_a_photo_the_reference_found(store):
    """A confirmed face far from the reference (the person from another side) must not push the
    reference's own matches past the threshold, as mixing it into the mean did."""
    emb = get_embedder("dlib-resnet-v1-flip")
    t = emb.default_threshold
    _write(store, {"a": _vec(t - 0.02), "far": _vec(0.0, t + 0.05), "near_far": _vec(0.0, 2 * t + 0.04)})
    search, _ = _search(store, emb, _vec(0.0)[None, :], t)
    first, _ = search(())
    assert {m.path for m in first} == {"a.jpg"}
    far = face_id_for(EVENT, "far".ljust(32, "0"), "test", 0)
    after, _ = search((far,))
    assert {m.path for m in after} == {"a.jpg", "far.jpg", "near_far.jpg"}
