"""Retrieval on LFW identities, photo level: each query photo searches all the other photos stored as
one event in pgvector. Recipes side by side, the identity models side by side on ours' faces, ours
with its variants (threshold held out, query expansion, several references), and the official pairs."""

from __future__ import annotations

import numpy as np

from face_pipeline.evaluation import metrics as M
from face_pipeline.evaluation.context import Harness
from face_pipeline.evaluation.recipes import detector_from_spec
from face_pipeline.evaluation.report import Section, Table, target
from face_pipeline.evaluation.retrieval import (
    RETRIEVAL_HEADER,
    held_out_row,
    retrieval_cells,
    retrieval_row,
    run_queries,
    sweep_grid,
    write_event,
)
from face_pipeline.lib.models import card, distance, get_embedder


def comparison_embedders(h: Harness) -> tuple[str, ...]:
    names = [h.ours.embedder, *(r.embedder for r in h.runnable()), *h.config.embedders]
    return tuple(dict.fromkeys(n for n in names if n != "clip-imgbeddings"))


def queries_for(h: Harness, faces, model_id: str):
    ident = {str(p.path): p.identity for p in h.lfw_set().photos}
    out = []
    for q in h.lfw_queries():
        key = str(q.path)
        relevant = frozenset(k for k, i in ident.items() if i == q.identity and k != key)
        out.append((q.identity, h.query_vector(faces.get(key), model_id), relevant, frozenset({key})))
    return out


def lfw_section(h: Harness) -> list[Section]:
    ds = h.lfw_set()
    store = h.store()
    rows, pair_rows = [], []
    ours_answers = None
    s = Section(
        f"Retrieval: LFW identities, photo level (`{h.config.lfw}`)",
        f"{len(h.lfw_queries())} queries (first photo of each identity with >= 4 photos); each searches the "
        f"other {len(ds.photos) - 1} photos, stored as one event in pgvector (query photo excluded). A photo "
        "answers with its best face; an empty answer has precision 0. 'best' is the threshold that maximises "
        "min(P, R) on this data, for reference (rows use the shipped threshold).",
    )
    for recipe in h.runnable():
        emb = get_embedder(recipe.embedder, h.folders)
        faces = h.lfw_faces(recipe.detector, (recipe.embedder,))
        event = f"eval-lfw-{recipe.key}"
        write_event(store, event, detector_from_spec(recipe.detector, h.folders).model_id, emb.model_id, faces)
        qs = queries_for(h, faces, emb.model_id)
        grid = sweep_grid(emb.metric)
        answers = run_queries(store, event, emb, qs, enrol=recipe.enrol, expand=recipe.expand)
        row = retrieval_row(recipe.title, answers, recipe.threshold_for(emb), grid)
        rows.append(retrieval_cells(row))
        if recipe.key == "ours":
            ours_answers = answers
            s.targets.append(
                target(
                    "LFW retrieval: mean precision >= 0.96 and mean recall >= 0.96",
                    f"P {row.precision:.3f}, R {row.recall:.3f} at {row.threshold:g}",
                    row.precision >= 0.96 and row.recall >= 0.96,
                )
            )
            held = held_out_row(answers, grid)
            held.label = f"ours, {held.label}"
            rows.append(retrieval_cells(held))
            other = run_queries(store, event, emb, qs, enrol=recipe.enrol, expand=not recipe.expand)
            rows.append(
                retrieval_cells(
                    retrieval_row(
                        f"ours, query expansion {'on' if not recipe.expand else 'off'}", other, row.threshold, grid
                    )
                )
            )
            s.table(
                ("references, enrolment", *RETRIEVAL_HEADER[1:]),
                [retrieval_cells(r) for r in enrolment_rows(h, emb, faces, event, row.threshold, grid)],
                "**Several references** (identities with >= 6 photos: the first 3 are the references, the "
                "others of everyone the gallery; every row on that same gallery):",
            )
        pair_rows.extend(pairs_rows(h, recipe.title, emb, faces, recipe.threshold_for(emb)))
    s.tables.insert(0, Table(RETRIEVAL_HEADER, rows))
    model_comparison(h, s)
    sections = [s]
    if pair_rows:
        p = Section(
            "Pair verification: official LFW pairs inside the subset",
            f"{len(ds.pairs)} pairs of pairs.txt whose two photos are both present (central face of each).",
        )
        p.table(("recipe", "pairs", "accuracy", "TAR", "FAR", "threshold"), pair_rows)
        sections.append(p)
    if ours_answers:
        sections.append(calibration_section(h, ours_answers))
    return sections


def model_comparison(h: Harness, s: Section) -> None:
    """The identity models side by side, on ours' faces and landmarks, each with its own threshold."""
    store = h.store()
    model_rows = []
    names = comparison_embedders(h)
    faces = h.lfw_faces(h.ours.detector, names)
    for name in names:
        emb = get_embedder(name, h.folders)
        event = f"eval-lfw-model-{name}"
        write_event(store, event, detector_from_spec(h.ours.detector, h.folders).model_id, emb.model_id, faces)
        answers = run_queries(
            store, event, emb, queries_for(h, faces, emb.model_id), enrol=h.ours.enrol, expand=h.ours.expand
        )
        h.answers[("LFW", emb.model_id)] = answers
        row = retrieval_row(f"{name} ({card(name).licence})", answers, emb.default_threshold, sweep_grid(emb.metric))
        model_rows.append(retrieval_cells(row))
    s.table(
        ("identity model", *RETRIEVAL_HEADER[1:]),
        model_rows,
        f"**Identity models side by side**: the faces and landmarks of ours' detector ({h.ours.detector}), "
        "the library's search defaults, each model at its own shipped threshold:",
    )


def pairs_rows(h: Harness, title: str, emb, faces, threshold: float) -> list[tuple]:
    pairs = h.lfw_set().pairs
    if not pairs:
        return []
    d, same = [], []
    for pr in pairs:
        va = h.query_vector(faces.get(str(pr.a)), emb.model_id)
        vb = h.query_vector(faces.get(str(pr.b)), emb.model_id)
        d.append(float(distance(va, vb[0], emb.metric)[0]) if len(va) and len(vb) else float("inf"))
        same.append(pr.same)
    ps = M.pair_accuracy(d, same, threshold)
    return [
        (title, ps.pairs, f"{100 * ps.accuracy:.2f} %", ps.true_accept_rate, ps.false_accept_rate, f"{threshold:g}")
    ]


def enrolment_rows(h: Harness, emb, faces, event: str, threshold: float, grid):
    ds = h.lfw_set()
    groups = {i: ps for i, ps in ds.by_identity().items() if len(ps) >= 6}
    refs = {i: [str(p.path) for p in ps[:3]] for i, ps in groups.items()}
    excluded = frozenset(k for r in refs.values() for k in r)
    ident = {str(p.path): p.identity for p in ds.photos}

    def queries(n: int):
        out = []
        for identity, paths in sorted(refs.items()):
            vecs = [v for v in (h.query_vector(faces.get(k), emb.model_id) for k in paths[:n]) if len(v)]
            stack = np.concatenate(vecs) if vecs else np.zeros((0, emb.dim), dtype=np.float32)
            relevant = frozenset(k for k, i in ident.items() if i == identity and k not in excluded)
            out.append((identity, stack, relevant, excluded))
        return out

    rows = []
    for n, enrol, expand in (
        (1, "mean", False),
        (1, "mean", True),
        (3, "min", False),
        (3, "centroid", False),
        (3, "mean", False),
        (3, "mean", True),
    ):
        answers = run_queries(h.store(), event, emb, queries(n), enrol=enrol, expand=expand)
        label = (
            f"{n} reference{'s' if n > 1 else ''}" + (f", {enrol}" if n > 1 else "") + (", expansion" if expand else "")
        )
        rows.append(retrieval_row(label, answers, threshold, grid))
    return rows


def calibration_section(h: Harness, answers) -> Section:
    """How well `confidence(distance)` matches the observed share of right answers among the
    candidates a lookup returns (the nearest photos of each query)."""
    emb = get_embedder(h.ours.embedder, h.folders)
    d, y = [], []
    for a in answers:
        for pid, dist in zip(a.ranked.ids, a.ranked.distances, strict=True):
            d.append(dist)
            y.append(pid in a.ranked.relevant)
    d_arr, y_arr = np.asarray(d), np.asarray(y)
    shipped = np.asarray([emb.confidence(x) for x in d_arr])
    s = Section(
        "Confidence calibration (LFW candidates, ours)",
        f"{len(d)} (query, photo) candidates, {int(y_arr.sum())} of them right.",
    )
    cal = M.calibration(shipped, y_arr)
    rows = [(f"shipped {emb.model_id}.confidence", round(cal.brier, 4), round(cal.expected_calibration_error, 4))]
    try:
        mid, scale = M.fit_logistic(d_arr, y_arr)
        fitted = M.calibration(M.logistic(d_arr, mid, scale), y_arr)
        rows.append(
            (
                f"fitted here: midpoint {mid:.3f}, scale {scale:.4f}",
                round(fitted.brier, 4),
                round(fitted.expected_calibration_error, 4),
            )
        )
    except ValueError as exc:
        rows.append((f"fit failed: {exc}", "", ""))
    s.table(("confidence", "Brier", "ECE"), rows)
    s.table(
        ("bin", "confidence", "observed", "n"),
        [(f"{b[0]:.1f}", b[1], b[2], b[3]) for b in cal.bins],
        "Reliability of the shipped confidence (bin, mean confidence, observed rate, candidates):",
    )
    return s
