"""Size- and quality-aware decisions (issue 23, item 2): does a face's width and detector score say
more about "same person" than its distance alone?

Two calibrated models of P(same person | face), fitted by logistic regression (Newton steps, a small
ridge) on the training folds of identity-fold cross-validation and judged on the held-out people:

- distance only: logit = a + b d (the shape of the embedders' shipped confidence curve);
- size- and score-aware: logit = a + b d + c log(width) + e d log(width) + f logit(score).

Each is judged by log loss and Brier score, and as a decision: its cut is chosen on the training folds
so that its false-accept rate there equals the shipped distance threshold's, and the held-out
true-accept rate (same-person faces accepted) and false accepts are compared with that threshold's.
A model that only fits noise gains nothing held out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from face_pipeline.evaluation.crossval import assign_folds

Row = tuple[str, float, float, bool, float]  # query identity, face width (px), detector score, same person, distance
MODELS = ("distance only", "distance, face width and detector score")
HEADER = (
    "set",
    "model",
    "faces (same person)",
    "log loss",
    "Brier",
    "same-person faces accepted",
    "false accepts per 10k",
    "accepted vs the shipped cut",
)
INTRO = (
    "**Size- and score-aware decisions** (face level, as the distance distributions above; {k} identity folds x "
    "{seeds} splits, each model fitted on the other folds and judged on the held-out people; each model's cut "
    "chosen on the training folds at the false-accept rate the shipped {thr:g} has there; "
    "the last column: same-person faces accepted held out, against the shipped cut on the same folds):"
)


def _design(rows: Sequence[Row], aware: bool) -> np.ndarray:
    d = np.asarray([r[4] for r in rows], float)
    if not aware:
        return np.column_stack([np.ones_like(d), d])
    lw = np.log(np.maximum(np.asarray([r[1] for r in rows], float), 8.0) / 80.0)
    s = np.clip(np.asarray([r[2] for r in rows], float), 1e-4, 1 - 1e-6)
    return np.column_stack([np.ones_like(d), d, lw, d * lw, np.log(s / (1 - s))])


def fit_logistic(x: np.ndarray, y: np.ndarray, ridge: float = 1e-3, steps: int = 50) -> np.ndarray:
    """Coefficients of P(y) = sigmoid(x @ beta), columns standardised inside (the first is the intercept)."""
    mu, sd = x[:, 1:].mean(0), x[:, 1:].std(0) + 1e-12
    z = np.column_stack([x[:, 0], (x[:, 1:] - mu) / sd])
    beta = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], ridge)
    penalty[0] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -35, 35)))
        grad = z.T @ (y - p) - penalty * beta
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty) + 1e-9 * np.eye(len(beta))
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.abs(step).max() < 1e-8:
            break
    # back to the raw columns
    raw = np.empty_like(beta)
    raw[1:] = beta[1:] / sd
    raw[0] = beta[0] - (beta[1:] * mu / sd).sum()
    return raw


def predict(x: np.ndarray, beta: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -35, 35)))


def cut_at_rate(scores_of_others: np.ndarray, rate: float) -> float:
    """The lowest cut whose share of `scores_of_others` at or above it is at most `rate`."""
    if not len(scores_of_others):
        return 0.5
    top = np.sort(scores_of_others)[::-1]
    allowed = int(np.floor(rate * len(top)))
    return float(np.nextafter(top[allowed], np.inf)) if allowed < len(top) else float(top[-1])


def cross_validate(rows: Sequence[Row], thr: float, *, k: int, seeds: Sequence[int]) -> dict:
    """Held-out figures per model, pooled over the folds and averaged over the splits; {} without positives."""
    if not rows:
        return {}
    same = np.asarray([r[3] for r in rows], bool)
    if same.sum() < k or (~same).sum() < k:
        return {}
    d = np.asarray([r[4] for r in rows], float)
    designs = {m: _design(rows, aware) for m, aware in zip(MODELS, (False, True), strict=True)}
    ids = [r[0] for r in rows]
    out = {m: {"logloss": [], "brier": [], "tar": [], "far": []} for m in MODELS}
    shipped = {"tar": [], "far": []}
    for seed in seeds:
        folds = assign_folds(ids, k, seed)
        fold = np.asarray([folds[i] for i in ids])
        prob = {m: np.empty(len(rows)) for m in MODELS}
        accepted = {m: np.zeros(len(rows), bool) for m in MODELS}
        for f in range(k):
            test, train = fold == f, fold != f
            rate = float((d[train & ~same] <= thr).mean())
            for m, x in designs.items():
                beta = fit_logistic(x[train], same[train].astype(float))
                p_train, prob[m][test] = predict(x[train], beta), predict(x[test], beta)
                accepted[m][test] = prob[m][test] >= cut_at_rate(p_train[~same[train]], rate)
        for m in MODELS:
            p = np.clip(prob[m], 1e-12, 1 - 1e-12)
            out[m]["logloss"].append(float(-np.mean(same * np.log(p) + (~same) * np.log(1 - p))))
            out[m]["brier"].append(float(np.mean((p - same) ** 2)))
            out[m]["tar"].append(float(accepted[m][same].mean()))
            out[m]["far"].append(float(accepted[m][~same].mean()))
        shipped["tar"].append(float((d[same] <= thr).mean()))
        shipped["far"].append(float((d[~same] <= thr).mean()))
    figures = {m: {key: float(np.mean(v)) for key, v in out[m].items()} for m in MODELS}
    figures["shipped"] = {key: float(np.mean(v)) for key, v in shipped.items()}
    figures["faces"], figures["same"] = len(rows), int(same.sum())
    return figures


def rows(name: str, figures: dict) -> list[tuple]:
    """Report rows: the shipped cut, then each model, held out."""
    if not figures:
        return []
    base = figures["shipped"]
    out = [
        (
            name,
            "shipped distance threshold",
            f"{figures['faces']} ({figures['same']})",
            "",
            "",
            f"{base['tar']:.4f}",
            f"{1e4 * base['far']:.2f}",
            "",
        )
    ]
    for m in MODELS:
        f = figures[m]
        out.append(
            (
                name,
                m,
                f"{figures['faces']} ({figures['same']})",
                f"{f['logloss']:.5f}",
                f"{f['brier']:.6f}",
                f"{f['tar']:.4f}",
                f"{1e4 * f['far']:.2f}",
                f"{f['tar'] - base['tar']:+.4f}",
            )
        )
    return out
