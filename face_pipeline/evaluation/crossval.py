"""A distance threshold chosen to hold on people nobody tuned for: k-fold cross-validation over
identity folds. Pure functions of ranked answers (metrics.RankedQuery), no models or files.

Every query belongs to an identity (a person); all the queries of one person, in every data set,
fall in the same fold, so a fold's threshold is always judged on people it never saw. In each fold
the threshold is chosen on the other folds by the rule the shipped operating points use
(metrics.choose_robust: the mean over the data sets of min(mean precision, mean recall)); the
cross-validated cut is the median of the fold thresholds (over repeated splits), not the single
best point of the whole set.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from face_pipeline.evaluation.metrics import RankedQuery

Labelled = tuple[str, RankedQuery]  # (identity, its query's ranked answer)


def pr_grid(query: RankedQuery, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall of one query at every threshold of `grid` (metrics' conventions: an
    empty answer has precision 0, or 1 when nothing was relevant; recall of nothing relevant is 1)."""
    d = np.asarray(query.distances, dtype=float)
    rel = np.asarray([i in query.relevant for i in query.ids], dtype=bool)
    order = np.argsort(d, kind="stable")
    d, rel = d[order], rel[order]
    returned = np.searchsorted(d, grid, side="right")  # answers with distance <= t
    hits = np.concatenate([[0], np.cumsum(rel)])[returned]
    want = len(query.relevant)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(returned > 0, hits / np.maximum(returned, 1), 0.0 if want else 1.0)
    r = hits / want if want else np.ones(len(grid))
    return p.astype(float), np.asarray(r, dtype=float)


@dataclass(frozen=True)
class Curves:
    """Per-query P and R on a grid, for one data set: arrays (queries, len(grid))."""

    identities: tuple[str, ...]
    precision: np.ndarray
    recall: np.ndarray

    @classmethod
    def of(cls, queries: Sequence[Labelled], grid: np.ndarray) -> Curves:
        if not queries:
            return cls((), np.zeros((0, len(grid))), np.zeros((0, len(grid))))
        ps, rs = zip(*(pr_grid(q, grid) for _i, q in queries), strict=True)
        return cls(tuple(i for i, _q in queries), np.vstack(ps), np.vstack(rs))

    def mask(self, keep: set[str]) -> np.ndarray:
        return np.asarray([i in keep for i in self.identities], dtype=bool)


def assign_folds(identities: Iterable[str], k: int, seed: int = 0) -> dict[str, int]:
    """Identity -> fold in 0..k-1: shuffled with `seed`, dealt round-robin (folds differ by at most one)."""
    if k < 2:
        raise ValueError("k-fold cross-validation needs k >= 2")
    people = sorted(set(identities))
    random.Random(seed).shuffle(people)
    return {p: n % k for n, p in enumerate(people)}


def choose_on(curves: Mapping[str, Curves], keep: set[str], grid: np.ndarray) -> tuple[float, float]:
    """(threshold, score) maximising the mean over data sets of min(mean P, mean R) on the queries of
    the identities in `keep`; sets with no such query are left out; ties go to the smaller threshold."""
    scores = []
    for c in curves.values():
        m = c.mask(keep)
        if m.any():
            scores.append(np.minimum(c.precision[m].mean(axis=0), c.recall[m].mean(axis=0)))
    if not scores:
        raise ValueError("no query to choose a threshold on")
    mean = np.mean(scores, axis=0)
    best = int(np.argmax(mean > mean.max() - 1e-12))  # first (smallest) of the best
    return float(grid[best]), float(mean[best])


def at(curves: Curves, keep: set[str] | None, grid: np.ndarray, threshold: float) -> tuple[float, float, int]:
    """(mean P, mean R, queries) of the queries of `keep` (None: all) at the grid point nearest `threshold`."""
    j = int(np.argmin(np.abs(grid - threshold)))
    m = np.ones(len(curves.identities), dtype=bool) if keep is None else curves.mask(keep)
    if not m.any():
        return float("nan"), float("nan"), 0
    return float(curves.precision[m, j].mean()), float(curves.recall[m, j].mean()), int(m.sum())


@dataclass(frozen=True)
class Fold:
    seed: int
    fold: int
    threshold: float  # chosen on the other folds
    fit_score: float  # mean over sets of min(P, R) on the other folds at that threshold
    held_out: dict[str, tuple[float, float, int]]  # set -> (P, R, queries) of this fold at its threshold


@dataclass(frozen=True)
class CrossValidation:
    k: int
    folds: tuple[Fold, ...]  # every fold of every repeat
    cut: float  # the median (low) of the fold thresholds
    pooled: dict[str, tuple[float, float, int]]  # set -> held-out P, R over all queries (first repeat)

    def thresholds(self, seed: int | None = None) -> list[float]:
        return [f.threshold for f in self.folds if seed is None or f.seed == seed]

    @property
    def spread(self) -> tuple[float, float, float]:
        """(min, max, standard deviation) of the fold thresholds."""
        t = self.thresholds()
        return min(t), max(t), float(np.std(t))


def cross_validate(
    by_set: Mapping[str, Sequence[Labelled]], grid: np.ndarray, *, k: int = 5, seeds: Sequence[int] = (0,)
) -> CrossValidation:
    """k-fold cross-validation of the threshold over identity folds, repeated for each seed.

    `by_set`: data set name -> its (identity, ranked answer) queries. An identity's queries in every
    set share its fold. Held-out P/R pooled over folds are given for the first seed.
    """
    grid = np.asarray(grid, dtype=float)
    curves = {name: Curves.of(qs, grid) for name, qs in by_set.items()}
    identities = {i for c in curves.values() for i in c.identities}
    folds: list[Fold] = []
    pooled_sums: dict[str, list[float]] = {}
    for seed in seeds:
        fold_of = assign_folds(identities, k, seed)
        for f in range(k):
            train = {i for i, n in fold_of.items() if n != f}
            test = identities - train
            t, score = choose_on(curves, train, grid)
            held = {}
            for name, c in curves.items():
                p, r, n = at(c, test, grid, t)
                if n:
                    held[name] = (p, r, n)
                    if seed == seeds[0]:
                        acc = pooled_sums.setdefault(name, [0.0, 0.0, 0])
                        acc[0] += p * n
                        acc[1] += r * n
                        acc[2] += n
            folds.append(Fold(seed, f, t, score, held))
    cut = float(statistics.median_low([x.threshold for x in folds]))
    pooled = {name: (s[0] / s[2], s[1] / s[2], int(s[2])) for name, s in pooled_sums.items()}
    return CrossValidation(k, tuple(folds), cut, pooled)


def sensitivity(
    by_set: Mapping[str, Sequence[Labelled]],
    grid: np.ndarray,
    cut: float,
    offsets: Sequence[float] = (-0.02, -0.01, 0.0, 0.01, 0.02),
) -> list[tuple[float, dict[str, tuple[float, float, int]]]]:
    """How P/R of each set move around `cut`: [(threshold, {set: (P, R, queries)})] for each offset."""
    grid = np.asarray(grid, dtype=float)
    curves = {name: Curves.of(qs, grid) for name, qs in by_set.items()}
    out = []
    for off in offsets:
        t = round(cut + off, 6)
        out.append((t, {name: at(c, None, grid, t) for name, c in curves.items()}))
    return out
