"""Each identity model's operating point, chosen on all the dev sets at once: the distance threshold
that maximises the mean over the sets (LFW, synthetic, real scenes, demo) of min(mean precision,
mean recall), so that no set is served by a cut-off tuned to another one. The confidence curve is
the logistic fitted (Platt) to all the sets' candidates. These figures are what the embedder files
ship (`default_threshold`, `conf_midpoint`, `conf_scale`); the table shows where each set alone
would have put the cut-off."""

from __future__ import annotations

import numpy as np

from face_pipeline.evaluation import metrics as M
from face_pipeline.evaluation.context import Harness
from face_pipeline.evaluation.report import Section
from face_pipeline.evaluation.retrieval import sweep_grid
from face_pipeline.lib.models import EMBEDDERS, embedder_model_id, get_embedder


def robust_threshold(by_set: dict[str, list[M.RankedQuery]], grid: np.ndarray) -> tuple[float, float]:
    """(threshold, mean over sets of min(P, R)) maximising the latter; ties go to the smaller threshold."""
    best = (float(grid[0]), -1.0)
    for t in grid:
        score = float(np.mean([min(M.retrieval_at(q, t)) for q in by_set.values()]))
        if score > best[1] + 1e-12:
            best = (float(t), score)
    return best


def thresholds_section(h: Harness) -> Section:
    sec = Section(
        "Operating points: one threshold per identity model, chosen on every dev set",
        __doc__.split("\n\n")[0].replace("\n", " "),
    )
    rows, fit_rows = [], []
    names = {embedder_model_id(n, h.folders): n for n in EMBEDDERS if n != "clip-imgbeddings"}
    for model_id in sorted({m for _s, m in h.answers}):
        by_set = {s: [a.ranked for a in ans] for (s, m), ans in sorted(h.answers.items()) if m == model_id}
        emb = get_embedder(names[model_id], h.folders)
        grid = sweep_grid(emb.metric)
        chosen, score = robust_threshold(by_set, grid)
        for set_name, queries in by_set.items():
            best = M.choose_threshold(M.sweep(queries, grid))
            shipped = M.retrieval_at(queries, emb.default_threshold)
            at_chosen = M.retrieval_at(queries, chosen)
            rows.append(
                (
                    model_id,
                    set_name,
                    len(queries),
                    f"{best[0]:g} ({best[1]:.3f}, {best[2]:.3f})",
                    f"{emb.default_threshold:g} ({shipped[0]:.3f}, {shipped[1]:.3f})",
                    f"{chosen:g} ({at_chosen[0]:.3f}, {at_chosen[1]:.3f})",
                )
            )
        d = [x for qs in by_set.values() for q in qs for x in q.distances]
        y = [i in q.relevant for qs in by_set.values() for q in qs for i in q.ids]
        try:
            mid, scale = M.fit_logistic(np.asarray(d), np.asarray(y))
            fit = f"midpoint {mid:.3f}, scale {scale:.4f}"
        except ValueError as exc:
            fit = f"fit failed: {exc}"
        fit_rows.append(
            (
                model_id,
                f"{chosen:g}",
                f"{score:.3f}",
                fit,
                f"{emb.default_threshold:g}",
                f"{getattr(emb, 'conf_midpoint', float('nan')):g}, {getattr(emb, 'conf_scale', float('nan')):g}",
            )
        )
    sec.table(
        ("model", "set", "queries", "best on this set (t, P, R)", "shipped (t, P, R)", "chosen on all (t, P, R)"), rows
    )
    sec.table(
        (
            "model",
            "chosen threshold",
            "mean min(P, R)",
            "confidence fitted on all candidates",
            "shipped threshold",
            "shipped confidence (midpoint, scale)",
        ),
        fit_rows,
        "What the embedder files should ship:",
    )
    return sec
