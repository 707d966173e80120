"""Metric code on small cases worked out by hand (exact values)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from face_pipeline.evaluation import metrics as M


def test_precision_recall_counts_hits():
    assert M.precision_recall({"a", "b", "c"}, {"a", "b", "d", "e"}) == (2 / 3, 0.5)


def test_empty_answer_is_wrong_when_something_was_relevant():
    assert M.precision_recall([], {"a"}) == (0.0, 0.0)
    assert M.precision_recall([], []) == (1.0, 1.0)
    assert M.precision_recall(["x"], []) == (0.0, 1.0)


def test_average_precision_by_hand():
    # relevant at ranks 1, 3, 5: (1/1 + 2/3 + 3/5) / 3 = 34/45
    assert M.average_precision(["a", "x", "b", "y", "c"], {"a", "b", "c"}) == pytest.approx(34 / 45, abs=1e-12)


def test_average_precision_counts_unranked_relevant_as_zero_and_duplicates_once():
    assert M.average_precision(["x", "a"], {"a", "b"}) == 0.25
    assert M.average_precision(["a", "a", "b"], {"b"}) == 0.5
    assert M.average_precision([], {"a"}) == 0.0


def test_mean_average_precision():
    value = M.mean_average_precision([(["a", "x", "b", "y", "c"], {"a", "b", "c"}), (["x", "a"], {"a", "b"})])
    assert value == pytest.approx((34 / 45 + 0.25) / 2, abs=1e-12)


def test_ranked_query_threshold_is_inclusive_and_means_are_per_query():
    q1 = M.RankedQuery(("a", "b", "c"), (0.3, 0.5, 0.6), frozenset({"a", "c"}))
    q2 = M.RankedQuery(("d",), (0.7,), frozenset({"d"}))
    assert q1.answer(0.5) == ["a", "b"]
    assert q1.ranked() == ["a", "b", "c"]
    # q1: P 1/2, R 1/2; q2: empty answer -> P 0, R 0
    assert M.retrieval_at([q1, q2], 0.5) == (0.25, 0.25)
    # at 0.7: q1 P 2/3 R 1; q2 P 1 R 1
    p, r = M.retrieval_at([q1, q2], 0.7)
    assert p == pytest.approx((2 / 3 + 1) / 2, abs=1e-12) and r == 1.0


def test_choose_threshold_maximises_the_smaller_of_precision_and_recall():
    curve = [(0.4, 1.0, 0.5), (0.5, 0.9, 0.8), (0.6, 0.6, 1.0)]
    assert M.choose_threshold(curve) == (0.5, 0.9, 0.8)
    # tie on min and sum: the smaller threshold wins
    assert M.choose_threshold([(0.6, 0.8, 0.8), (0.5, 0.8, 0.8)])[0] == 0.5


def test_pair_accuracy_by_hand():
    s = M.pair_accuracy([0.3, 0.7, 0.5, 0.4], [True, True, False, False], 0.5)
    # accepted: 0.3, 0.5, 0.4 -> right only on the first pair
    assert s.accuracy == 0.25
    assert s.true_accept_rate == 0.5
    assert s.false_accept_rate == 1.0
    assert (s.pairs, s.same) == (4, 2)


def test_iou_by_hand():
    assert M.iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3, abs=1e-12)
    assert M.iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0
    assert M.iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert M.iou((0, 0, 4, 4), (1, 1, 3, 3)) == 0.25


def test_match_detections_one_to_one_with_ignored_faces():
    truth = [(0, 0, 10, 10), (20, 20, 30, 30), (50, 50, 52, 52)]
    ignore = [False, False, True]
    dets = [((0, 0, 10, 10), 0.9), ((1, 1, 11, 11), 0.8), ((50, 50, 52, 52), 0.5), ((100, 100, 110, 110), 0.7)]
    m = M.match_detections(dets, truth, ignore, 0.3)
    assert (m.hits, m.false_alarms, m.ignored) == (1, 2, 1)
    assert m.found == (True, False, True)


def test_match_detections_highest_score_first():
    m = M.match_detections([((0, 0, 10, 10), 0.2), ((0, 0, 9, 10), 0.9)], [(0, 0, 10, 10)])
    assert (m.hits, m.false_alarms) == (1, 1)
    # below the IoU threshold is a false alarm and a miss
    m = M.match_detections([((5, 0, 15, 10), 1.0)], [(0, 0, 10, 10)], iou_threshold=0.5)
    assert (m.hits, m.false_alarms, m.found) == (0, 1, (False,))


def test_size_bucket():
    edges = [40, 60, 80]
    assert M.size_bucket(39, edges) == "<40"
    assert M.size_bucket(40, edges) == "40-59"
    assert M.size_bucket(59, edges) == "40-59"
    assert M.size_bucket(79, edges) == "60-79"
    assert M.size_bucket(500, edges) == "80+"


def test_logistic_and_fit_on_a_saturated_case():
    assert float(M.logistic(0.5, 0.5, 0.1)) == 0.5
    # two distances: at 0, 3 of 4 are the same person; at 1, 1 of 4. The maximum-likelihood fit
    # passes through both rates: logit 0.75 = ln 3 at 0, -ln 3 at 1 -> midpoint 0.5, scale 1/(2 ln 3).
    x = [0, 0, 0, 0, 1, 1, 1, 1]
    y = [1, 1, 1, 0, 1, 0, 0, 0]
    mid, scale = M.fit_logistic(x, y)
    assert mid == pytest.approx(0.5, abs=1e-6)
    assert scale == pytest.approx(1 / (2 * math.log(3)), rel=1e-5)
    assert float(M.logistic(0.0, mid, scale)) == pytest.approx(0.75, abs=1e-5)


def test_fit_refuses_one_class():
    with pytest.raises(ValueError):
        M.fit_logistic([0.1, 0.2], [True, True])


def test_calibration_by_hand():
    c = M.calibration([0.9, 0.9, 0.1, 0.1], [1, 0, 0, 0])
    # Brier: (0.01 + 0.81 + 0.01 + 0.01) / 4; ECE: 0.5 * |0.9 - 0.5| + 0.5 * |0.1 - 0|
    assert c.brier == pytest.approx(0.21, abs=1e-12)
    assert c.expected_calibration_error == pytest.approx(0.25, abs=1e-12)
    assert [(b[0], b[3]) for b in c.bins] == [(0.1, 2), (0.9, 2)]
    assert c.bins[1][2] == 0.5


def _bcubed_by_definition(clusters, labels):
    items = list(labels)
    cl = {i: clusters.get(i, ("alone", i)) for i in items}
    p = sum(
        sum(1 for j in items if cl[j] == cl[i] and labels[j] == labels[i]) / sum(1 for j in items if cl[j] == cl[i])
        for i in items
    )
    r = sum(
        sum(1 for j in items if cl[j] == cl[i] and labels[j] == labels[i])
        / sum(1 for j in items if labels[j] == labels[i])
        for i in items
    )
    return p / len(items), r / len(items)


def test_bcubed_by_hand():
    # a, b, c are one person; d another. Grouping {a, b}, {c, d}: a and b score P 1, R 2/3;
    # c scores P 1/2, R 1/3; d scores P 1/2, R 1.
    p, r = M.bcubed({"a": 1, "b": 1, "c": 2, "d": 2}, {"a": "x", "b": "x", "c": "x", "d": "y"})
    assert p == pytest.approx((1 + 1 + 0.5 + 0.5) / 4) and r == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1) / 4)


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3)), min_size=1, max_size=30))
def test_bcubed_matches_its_definition(rows):
    labels = {i: lab for i, (_, lab) in enumerate(rows)}
    clusters = {i: c for i, (c, _) in enumerate(rows) if c != 0}  # cluster 0 = not grouped (alone)
    assert M.bcubed(clusters, labels) == pytest.approx(_bcubed_by_definition(clusters, labels))
