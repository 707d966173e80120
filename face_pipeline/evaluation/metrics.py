"""Evaluation metrics as pure functions of plain values (no models, no files), so each one can be
checked by hand on a few numbers.

Conventions (stated once, used everywhere):
- A retrieval answer is the set of photos returned for one query. Precision of an empty answer is
  0 when the query had relevant photos (the user got nothing useful) and 1 when it had none.
  Recall with no relevant photos is 1.
- Average precision ranks every candidate by distance; a relevant photo never ranked contributes 0.
- Detection: a detection is a hit when its IoU with a not-yet-matched ground-truth box is at least
  `iou_threshold`; detections are matched greedily, highest score first. Detections matched to an
  ignored ground-truth box (too small, or marked invalid) count as neither hit nor false alarm.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

Box = tuple[float, float, float, float]  # left, top, right, bottom


# ---- retrieval -------------------------------------------------------------------------------


def precision_recall(retrieved: Iterable[Hashable], relevant: Iterable[Hashable]) -> tuple[float, float]:
    got, want = set(retrieved), set(relevant)
    hits = len(got & want)
    precision = hits / len(got) if got else (0.0 if want else 1.0)
    recall = hits / len(want) if want else 1.0
    return precision, recall


def average_precision(ranked: Sequence[Hashable], relevant: Iterable[Hashable]) -> float:
    """Mean over the relevant items of the precision at each one's rank (0 for those not ranked)."""
    want = set(relevant)
    if not want:
        return 1.0
    hits, total = 0, 0.0
    seen: set = set()
    for item in ranked:
        if item in seen:
            continue  # a photo counts once, at its best rank
        seen.add(item)
        if item in want:
            hits += 1
            total += hits / len(seen)
    return total / len(want)


def mean_average_precision(queries: Iterable[tuple[Sequence[Hashable], Iterable[Hashable]]]) -> float:
    aps = [average_precision(r, rel) for r, rel in queries]
    return float(np.mean(aps)) if aps else float("nan")


@dataclass(frozen=True)
class RankedQuery:
    """One query's candidates: photo ids, their distances (best face per photo) and the relevant ids."""

    ids: tuple[Hashable, ...]
    distances: tuple[float, ...]
    relevant: frozenset

    def answer(self, threshold: float) -> list[Hashable]:
        return [i for i, d in zip(self.ids, self.distances, strict=True) if d <= threshold]

    def ranked(self) -> list[Hashable]:
        order = sorted(range(len(self.ids)), key=lambda k: (self.distances[k], str(self.ids[k])))
        return [self.ids[k] for k in order]


def retrieval_at(queries: Sequence[RankedQuery], threshold: float) -> tuple[float, float]:
    """Mean precision and mean recall over queries at one distance threshold."""
    if not queries:
        return float("nan"), float("nan")
    ps, rs = zip(*(precision_recall(q.answer(threshold), q.relevant) for q in queries), strict=True)
    return float(np.mean(ps)), float(np.mean(rs))


def sweep(queries: Sequence[RankedQuery], thresholds: Iterable[float]) -> list[tuple[float, float, float]]:
    """(threshold, mean precision, mean recall) for each threshold."""
    return [(float(t), *retrieval_at(queries, t)) for t in thresholds]


def choose_threshold(curve: Sequence[tuple[float, float, float]]) -> tuple[float, float, float]:
    """The point that maximises min(mean precision, mean recall): neither may be bought with the other.

    Ties go to the smaller threshold (the more cautious answer).
    """
    if not curve:
        raise ValueError("empty curve")
    return max(curve, key=lambda c: (min(c[1], c[2]), c[1] + c[2], -c[0]))


# ---- pair verification -----------------------------------------------------------------------


@dataclass(frozen=True)
class PairScores:
    accuracy: float
    true_accept_rate: float  # same-person pairs within the threshold
    false_accept_rate: float  # different-person pairs within the threshold
    pairs: int
    same: int


def pair_accuracy(distances: Sequence[float], same: Sequence[bool], threshold: float) -> PairScores:
    d = np.asarray(distances, dtype=float)
    s = np.asarray(same, dtype=bool)
    if d.shape != s.shape:
        raise ValueError("distances and labels differ in length")
    accept = d <= threshold
    correct = int(np.sum(accept == s))
    n_same, n_diff = int(s.sum()), int((~s).sum())
    tar = float(np.sum(accept & s) / n_same) if n_same else float("nan")
    far = float(np.sum(accept & ~s) / n_diff) if n_diff else float("nan")
    return PairScores(correct / len(d) if len(d) else float("nan"), tar, far, len(d), n_same)


# ---- detection -------------------------------------------------------------------------------


def iou(a: Box, b: Box) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class DetectionMatch:
    hits: int  # detections matched to a counted ground-truth face
    false_alarms: int  # detections matched to nothing
    ignored: int  # detections matched to an ignored ground-truth face
    found: tuple[bool, ...]  # per ground-truth face: was it matched


def match_detections(
    detections: Sequence[tuple[Box, float]],
    truth: Sequence[Box],
    ignore: Sequence[bool] | None = None,
    iou_threshold: float = 0.3,
) -> DetectionMatch:
    """Greedy one-to-one matching, highest-scoring detection first, each to its best free box."""
    ignore = list(ignore) if ignore is not None else [False] * len(truth)
    if len(ignore) != len(truth):
        raise ValueError("ignore flags and truth boxes differ in length")
    used = [False] * len(truth)
    hits = false_alarms = ignored = 0
    for box, _score in sorted(detections, key=lambda d: -d[1]):
        best, best_iou = -1, 0.0
        for j, t in enumerate(truth):
            v = iou(box, t)
            if not used[j] and v >= iou_threshold and v > best_iou:
                best, best_iou = j, v
        if best < 0:
            false_alarms += 1
        else:
            used[best] = True
            if ignore[best]:
                ignored += 1
            else:
                hits += 1
    return DetectionMatch(hits, false_alarms, ignored, tuple(used))


def size_bucket(size: float, edges: Sequence[int]) -> str:
    """The label of the bucket `[edges[i], edges[i+1])` holding `size`; the last bucket is open."""
    for lo, hi in zip(edges, [*edges[1:], math.inf], strict=True):
        if lo <= size < hi:
            return f"{lo}+" if hi == math.inf else f"{lo}-{hi - 1}"
    return f"<{edges[0]}"


# ---- confidence calibration ------------------------------------------------------------------


def logistic(distance: np.ndarray | float, midpoint: float, scale: float) -> np.ndarray:
    """P(same person | distance) = 1 / (1 + exp((distance - midpoint) / scale))."""
    z = np.clip((np.asarray(distance, dtype=float) - midpoint) / scale, -500, 500)
    return 1.0 / (1.0 + np.exp(z))


def fit_logistic(distances: Sequence[float], same: Sequence[bool], iterations: int = 100) -> tuple[float, float]:
    """Maximum-likelihood (midpoint, scale) of `logistic` by Newton's method (Platt scaling).

    A tiny ridge keeps the fit finite when the classes are perfectly separated.
    """
    x = np.asarray(distances, dtype=float)
    y = np.asarray(same, dtype=float)
    if x.size == 0 or y.min() == y.max():
        raise ValueError("calibration needs both matching and non-matching examples")
    # model: p = sigmoid(a + b x), b < 0
    a, b = 0.0, 0.0
    ridge = 1e-6
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(a + b * x, -500, 500)))
        w = p * (1 - p)
        g = np.array([np.sum(p - y), np.sum((p - y) * x)]) + ridge * np.array([a, b])
        h = np.array([[np.sum(w), np.sum(w * x)], [np.sum(w * x), np.sum(w * x * x)]]) + ridge * np.eye(2)
        step = np.linalg.solve(h, g)
        a, b = a - step[0], b - step[1]
        if np.max(np.abs(step)) < 1e-10:
            break
    if b >= 0:
        raise ValueError("distances do not separate matching from non-matching examples")
    return float(-a / b), float(-1.0 / b)


@dataclass(frozen=True)
class Calibration:
    brier: float
    expected_calibration_error: float
    bins: tuple[tuple[float, float, float, int], ...]  # (lower edge, mean confidence, observed rate, count)


def calibration(confidence: Sequence[float], same: Sequence[bool], n_bins: int = 10) -> Calibration:
    """Brier score, expected calibration error and the reliability table over equal-width bins."""
    c = np.asarray(confidence, dtype=float)
    y = np.asarray(same, dtype=float)
    if c.size == 0:
        raise ValueError("no examples")
    brier = float(np.mean((c - y) ** 2))
    idx = np.minimum((c * n_bins).astype(int), n_bins - 1)
    ece, bins = 0.0, []
    for k in range(n_bins):
        m = idx == k
        if not m.any():
            continue
        conf, rate = float(c[m].mean()), float(y[m].mean())
        ece += m.sum() / c.size * abs(conf - rate)
        bins.append((k / n_bins, conf, rate, int(m.sum())))
    return Calibration(brier, float(ece), tuple(bins))


# ---- grouping into people --------------------------------------------------------------------


def bcubed(clusters: dict[Hashable, Hashable], labels: dict[Hashable, Hashable]) -> tuple[float, float]:
    """BCubed precision and recall of a grouping: for each item, the share of its cluster that has its
    label, and the share of its label that is in its cluster; averaged over items. An item missing from
    `clusters` is a cluster of its own."""
    items = list(labels)
    if not items:
        return float("nan"), float("nan")
    # Item i scores n(c, l) / |c| and n(c, l) / |l| (c its cluster, l its label); summed over items
    # that is one term per (cluster, label) pair: linear in the items, even for a huge cluster.
    pairs = Counter((clusters.get(i, ("alone", i)), labels[i]) for i in items)
    cluster_size, label_size = Counter(), Counter()
    for (c, lab), n in pairs.items():
        cluster_size[c] += n
        label_size[lab] += n
    p = sum(n * n / cluster_size[c] for (c, _), n in pairs.items())
    r = sum(n * n / label_size[lab] for (_, lab), n in pairs.items())
    return p / len(items), r / len(items)


def pairwise(clusters: dict[Hashable, Hashable], labels: dict[Hashable, Hashable]) -> tuple[float, float]:
    """Pairwise precision and recall: of the pairs put together, the share that are one person; of the
    pairs that are one person, the share put together."""
    from collections import Counter

    items = list(labels)
    cluster_of = {i: clusters.get(i, ("alone", i)) for i in items}
    together = Counter(cluster_of.values())
    same = Counter(labels.values())
    both = Counter((cluster_of[i], labels[i]) for i in items)
    pairs = lambda n: n * (n - 1) // 2  # noqa: E731
    tp = sum(pairs(n) for n in both.values())
    predicted = sum(pairs(n) for n in together.values())
    actual = sum(pairs(n) for n in same.values())
    return (tp / predicted if predicted else 1.0), (tp / actual if actual else 1.0)
