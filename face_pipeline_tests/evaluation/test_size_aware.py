"""The size- and score-aware decision model of the quality section (evaluation/size_aware.py)."""

import numpy as np

from face_pipeline.evaluation import size_aware


def _faces(width_matters: bool, seed: int = 0, people: int = 60, per_person: int = 400):
    """Synthetic face-level rows: same-person distances grow for small faces only when width_matters."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(people):
        for _ in range(per_person):
            same = rng.random() < 0.05
            width = float(rng.uniform(30, 160))
            score = float(rng.uniform(0.9, 0.9999))
            if same:
                shift = 0.15 * (80.0 / width - 1.0) if width_matters else 0.0
                d = rng.normal(0.22 + max(shift, 0.0), 0.06)
            else:
                d = rng.normal(0.75, 0.09)
            rows.append((f"person{p}", width, score, same, float(d)))
    return rows


def test_logistic_fit_recovers_known_coefficients():
    rng = np.random.default_rng(1)
    x = np.column_stack([np.ones(20000), rng.normal(size=20000)])
    y = (rng.random(20000) < 1 / (1 + np.exp(-(-1.0 + 2.0 * x[:, 1])))).astype(float)
    beta = size_aware.fit_logistic(x, y, ridge=0.0)
    assert abs(beta[0] + 1.0) < 0.1 and abs(beta[1] - 2.0) < 0.1


def test_cut_at_rate_keeps_the_false_accept_rate():
    others = np.linspace(0, 1, 1001)
    cut = size_aware.cut_at_rate(others, 0.01)
    assert (others >= cut).mean() <= 0.01 and (others >= cut).mean() > 0.005


def test_width_that_matters_is_found_and_noise_gains_nothing():
    aware, plain = size_aware.MODELS[1], size_aware.MODELS[0]
    helps = size_aware.cross_validate(_faces(True), 0.39, k=5, seeds=(0, 1))
    assert helps[aware]["tar"] > helps[plain]["tar"] + 0.02  # small faces recovered at the same false-accept rate
    assert helps[aware]["logloss"] < helps[plain]["logloss"]
    noise = size_aware.cross_validate(_faces(False), 0.39, k=5, seeds=(0, 1))
    assert abs(noise[aware]["tar"] - noise[plain]["tar"]) < 0.01
    rows = size_aware.rows("synthetic rows", noise)
    assert [r[1] for r in rows] == ["shipped distance threshold", *size_aware.MODELS]


def test_nothing_to_fit_gives_no_rows():
    assert size_aware.cross_validate([], 0.39, k=5, seeds=(0,)) == {}
    assert size_aware.rows("empty", {}) == []
