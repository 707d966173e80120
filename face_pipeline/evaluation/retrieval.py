"""Retrieval the way users get it: analysed photos written as one event through the library's
EventWrite into pgvector, queries answered by the library's search (nearest_faces: enrolment and query
expansion; one distance per photo, its best face), and the measures of one set of answers."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from face_pipeline.evaluation import metrics as M
from face_pipeline.evaluation.analysis import PhotoFaces
from face_pipeline.lib.search import collapse_to_photos, nearest_faces
from face_pipeline.lib.store import EventWrite, FaceRow, PhotoRow, face_id_for

# Candidates per query (enough for the largest identity in the dev data, 12 photos, many times over).
CANDIDATES = 200


def write_event(store, event: str, detector_model: str, model_id: str, photos: dict[str, PhotoFaces]) -> dict[str, str]:
    """Store analysed photos as one event (photo key -> photo_id), as ingest would write them."""
    photo_rows, face_rows, vectors, ids = [], [], [], {}
    for key, pf in sorted(photos.items()):
        pid = hashlib.sha256(key.encode()).hexdigest()[:32]
        ids[key] = pid
        vecs = pf.vectors.get(model_id, np.zeros((0, 1)))
        photo_rows.append(PhotoRow(pid, key, 0, pf.width, pf.height, None, len(pf.boxes)))
        for i, box in enumerate(pf.boxes):
            fid = face_id_for(event, pid, detector_model, i)
            face_rows.append(
                FaceRow(
                    face_id=fid,
                    photo_id=pid,
                    face_index=i,
                    box=tuple(int(v) for v in box),
                    score=float(pf.scores[i]),
                    landmarks=pf.landmarks[i] if i < len(pf.landmarks) else [],
                    crop_path="",
                )
            )
            vectors.append(vecs[i])
    dim = len(vectors[0]) if vectors else 1
    store.replace_event(
        EventWrite(
            event,
            detector_model,
            model_id,
            photo_rows,
            face_rows,
            np.asarray(vectors, dtype=np.float32).reshape(len(face_rows), dim),
        )
    )
    return ids


@dataclass
class QueryAnswer:
    query: str
    ranked: M.RankedQuery


Query = tuple[str, np.ndarray, frozenset, frozenset]  # name, reference vectors, relevant, excluded


def run_queries(
    store, event: str, embedder, queries: Sequence[Query], *, enrol: str, expand: bool
) -> list[QueryAnswer]:
    """Each query against one event through pgvector, collapsed to one distance per photo."""
    out = []
    for name, vectors, relevant, excluded in queries:
        if len(vectors) == 0:
            out.append(QueryAnswer(name, M.RankedQuery((), (), relevant)))
            continue
        by_face = nearest_faces(
            store,
            vectors,
            embedder,
            embedder.model_id,
            events=[event],
            limit=CANDIDATES,
            enrol=enrol,
            expand=expand,
            exclude_paths=excluded,
        )
        photos = collapse_to_photos(list(by_face.values()), embedder, float("inf"))
        kept = [p for p in photos if p.path not in excluded]
        out.append(
            QueryAnswer(name, M.RankedQuery(tuple(p.path for p in kept), tuple(p.distance for p in kept), relevant))
        )
    return out


@dataclass
class RetrievalRow:
    label: str
    threshold: float
    precision: float
    recall: float
    mean_ap: float
    queries: int
    empty_answers: int
    best: tuple[float, float, float] | None = None  # threshold, P, R maximising min(P, R)


def sweep_grid(metric: str) -> np.ndarray:
    lo, hi = (0.3, 0.8) if metric == "l2" else (0.02, 0.9)
    return np.round(np.arange(lo, hi + 1e-9, 0.01), 3)


def retrieval_row(label: str, answers: list[QueryAnswer], threshold: float, grid: np.ndarray) -> RetrievalRow:
    ranked = [a.ranked for a in answers]
    p, r = M.retrieval_at(ranked, threshold)
    mean_ap = M.mean_average_precision((q.ranked(), q.relevant) for q in ranked)
    empty = sum(1 for q in ranked if not q.answer(threshold))
    best = M.choose_threshold(M.sweep(ranked, grid)) if ranked else None
    return RetrievalRow(label, threshold, p, r, mean_ap, len(ranked), empty, best)


def held_out_row(answers: list[QueryAnswer], grid: np.ndarray) -> RetrievalRow:
    """Two-fold check that the threshold is not fitted to the queries it is judged on: choose it on
    every other identity, judge it on the rest, and the other way round (means of both halves)."""
    halves = [answers[0::2], answers[1::2]]
    ps, rs, ts = [], [], []
    for fit, judge in ((halves[0], halves[1]), (halves[1], halves[0])):
        t = M.choose_threshold(M.sweep([a.ranked for a in fit], grid))[0]
        p, r = M.retrieval_at([a.ranked for a in judge], t)
        ps.append(p * len(judge))
        rs.append(r * len(judge))
        ts.append(t)
    n = len(answers)
    return RetrievalRow(
        f"threshold chosen on the other half of the identities ({ts[0]:g} / {ts[1]:g})",
        float("nan"),
        sum(ps) / n,
        sum(rs) / n,
        float("nan"),
        n,
        0,
    )


RETRIEVAL_HEADER = (
    "recipe",
    "threshold",
    "mean precision",
    "mean recall",
    "mAP",
    "queries",
    "empty answers",
    "best (t, P, R)",
)


def retrieval_cells(r: RetrievalRow) -> tuple:
    best = f"{r.best[0]:g}, {r.best[1]:.3f}, {r.best[2]:.3f}" if r.best else ""
    return (
        r.label,
        r.threshold if np.isnan(r.threshold) else round(r.threshold, 3),
        r.precision,
        r.recall,
        r.mean_ap,
        r.queries,
        r.empty_answers,
        best,
    )
