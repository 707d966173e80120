"""Cross-validated thresholds (evaluation/crossval.py) on small hand-made answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from face_pipeline.evaluation import crossval as CV
from face_pipeline.evaluation import metrics as M

GRID = np.round(np.arange(0.1, 0.9001, 0.01), 3)


def q(pairs: list[tuple[str, float]], relevant: set[str]) -> M.RankedQuery:
    return M.RankedQuery(tuple(p for p, _ in pairs), tuple(d for _, d in pairs), frozenset(relevant))


def test_pr_grid_matches_retrieval_at_by_hand():
    query = q([("a", 0.2), ("x", 0.3), ("b", 0.5)], {"a", "b", "c"})
    p, r = CV.pr_grid(query, np.array([0.1, 0.2, 0.3, 0.5]))
    assert p.tolist() == [0.0, 1.0, 0.5, pytest.approx(2 / 3)]
    assert r.tolist() == [0.0, pytest.approx(1 / 3), pytest.approx(1 / 3), pytest.approx(2 / 3)]


def test_pr_grid_nothing_relevant():
    p, r = CV.pr_grid(q([("x", 0.3)], set()), np.array([0.2, 0.4]))
    assert p.tolist() == [1.0, 0.0] and r.tolist() == [1.0, 1.0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 1.0), st.booleans()), max_size=12), st.integers(0, 3))
def test_pr_grid_agrees_with_metrics(cands, missing):
    ids = [f"p{i}" for i in range(len(cands))]
    relevant = {i for i, (_d, rel) in zip(ids, cands, strict=True) if rel} | {f"gone{j}" for j in range(missing)}
    query = q([(i, d) for i, (d, _r) in zip(ids, cands, strict=True)], relevant)
    p, r = CV.pr_grid(query, GRID)
    for j in range(0, len(GRID), 7):
        assert (p[j], r[j]) == pytest.approx(M.retrieval_at([query], float(GRID[j])))


def test_folds_are_balanced_deterministic_and_cover_everyone():
    people = [f"id{i}" for i in range(23)]
    a = CV.assign_folds(people, 5, seed=3)
    assert a == CV.assign_folds(reversed(people), 5, seed=3)
    assert set(a) == set(people)
    sizes = np.bincount(list(a.values()), minlength=5)
    assert sizes.max() - sizes.min() <= 1
    assert a != CV.assign_folds(people, 5, seed=4)
    with pytest.raises(ValueError):
        CV.assign_folds(people, 1)


def _set_where_true_cut_is(cut: float, n: int, rng) -> list[CV.Labelled]:
    """Queries whose own photos lie at most `cut` - 0.05 (one of them exactly there) and strangers above `cut`."""
    out = []
    for i in range(n):
        own = [(f"own{i}_0", round(cut - 0.05, 6))] + [
            (f"own{i}_{j}", float(cut - rng.uniform(0.05, 0.2))) for j in (1, 2)
        ]
        strangers = [(f"s{i}_{j}", float(cut + rng.uniform(0.005, 0.3))) for j in range(5)]
        out.append((f"id{i}", q(own + strangers, {p for p, _ in own})))
    return out


def test_cross_validation_finds_a_clean_cut_in_every_fold():
    rng = np.random.default_rng(0)
    data = {"A": _set_where_true_cut_is(0.40, 40, rng)}
    cv = CV.cross_validate(data, GRID, k=5, seeds=(0, 1))
    assert len(cv.folds) == 10
    assert all(f.threshold == 0.35 for f in cv.folds)  # the smallest threshold that is right
    assert cv.pooled["A"] == (1.0, 1.0, 40)
    assert all(f.held_out["A"][:2] == (1.0, 1.0) for f in cv.folds)
    assert sum(f.held_out["A"][2] for f in cv.folds if f.seed == 0) == 40  # every query judged once


def test_held_out_fold_never_chooses_on_its_own_people():
    # one identity per fold; identity "odd" alone needs a far larger threshold: the fold that holds it
    # out chooses without it (and fails it), the others choose with it.
    queries = [(f"id{i}", q([(f"o{i}", 0.3), (f"x{i}", 0.6)], {f"o{i}"})) for i in range(4)]
    queries.append(("odd", q([("o_odd", 0.55), ("x_odd", 0.7)], {"o_odd"})))
    cv = CV.cross_validate({"A": queries}, GRID, k=5)
    by_fold = {f.fold: f for f in cv.folds}
    fold_of = CV.assign_folds([i for i, _ in queries], 5)
    odd = by_fold[fold_of["odd"]]
    assert odd.threshold < 0.55 and odd.held_out["A"][:2] == (0.0, 0.0)
    others = [f for n, f in by_fold.items() if n != fold_of["odd"]]
    assert all(0.3 <= f.threshold < 0.6 for f in others)


def test_identities_share_a_fold_across_sets_and_sets_weigh_equally():
    rng = np.random.default_rng(1)
    a = _set_where_true_cut_is(0.35, 30, rng)
    b = _set_where_true_cut_is(0.45, 30, rng)  # the same identities id0..id29
    cv = CV.cross_validate({"A": a, "B": b}, GRID, k=3)
    for f in cv.folds:
        assert f.held_out["A"][2] == f.held_out["B"][2]  # the same people held out of both
    # A wants <= 0.35 (its strangers start there), B wants >= 0.45: no cut serves both; the mean of
    # min(P, R) over the sets is what is maximised, not the pooled queries
    curves = {"A": CV.Curves.of(a, GRID), "B": CV.Curves.of(b, GRID)}
    t, score = CV.choose_on(curves, {i for i, _ in a}, GRID)
    pa = CV.at(curves["A"], None, GRID, t)
    pb = CV.at(curves["B"], None, GRID, t)
    assert score == pytest.approx((min(pa[:2]) + min(pb[:2])) / 2)


def test_cut_is_the_low_median_of_fold_thresholds_and_sensitivity_steps():
    rng = np.random.default_rng(2)
    data = {"A": _set_where_true_cut_is(0.40, 25, rng)}
    cv = CV.cross_validate(data, GRID, k=5, seeds=(0, 1, 2))
    ts = sorted(cv.thresholds())
    assert cv.cut == ts[(len(ts) - 1) // 2]
    lo, hi, sd = cv.spread
    assert lo == ts[0] and hi == ts[-1] and sd >= 0
    rows = CV.sensitivity(data, GRID, 0.40)
    assert [t for t, _ in rows] == [0.38, 0.39, 0.4, 0.41, 0.42]
    recalls = [r["A"][1] for _t, r in rows]
    assert recalls == sorted(recalls)  # recall never falls as the threshold rises
