"""Retrieval on synthetic event photos: canvases with 2-6 LFW photos each (many faces per photo),
queried with the LFW query photos of the people on them."""

from __future__ import annotations

from face_pipeline.evaluation.context import Harness
from face_pipeline.evaluation.recipes import detector_from_spec
from face_pipeline.evaluation.report import Section
from face_pipeline.evaluation.retrieval import (
    RETRIEVAL_HEADER,
    retrieval_cells,
    retrieval_row,
    run_queries,
    sweep_grid,
    write_event,
)
from face_pipeline.evaluation.sections.lfw import comparison_embedders
from face_pipeline.evaluation.synthetic import plan_composites
from face_pipeline.lib.models import get_embedder


def synthetic_section(h: Harness) -> Section:
    queries = h.lfw_queries()
    qpaths = {q.path for q in queries}
    pool = [p for p in h.lfw_set().photos if p.path not in qpaths]
    comps = plan_composites(pool, count=max(10, h.config.synthetic // (4 if h.config.quick else 1)), seed=0)
    s = Section(
        "Retrieval: synthetic event photos (many faces per photo)",
        f"{len(comps)} canvases of 1024x768, each with 2-6 LFW photos (120-250 px, so faces of ~50-120 px) "
        f"on a flat background: {sum(len(c.tiles) for c in comps)} labelled faces (plus the bystanders "
        "inside the crops). Queries: the LFW query photos of the identities on some canvas; relevant: the "
        "canvases showing them.",
    )
    runs = [(r.title, r.detector, r.embedder, r.threshold, r.enrol, r.expand, False) for r in h.runnable()]
    runs += [
        (f"{name} on ours' faces", h.ours.detector, name, None, h.ours.enrol, h.ours.expand, True)
        for name in comparison_embedders(h)
    ]
    rows = []
    for title, detector, embedder, threshold, enrol, expand, keep in runs:
        emb = get_embedder(embedder, h.folders)
        faces = h.cache.get(
            [h.job(c.name, detector, (embedder,), composite=c) for c in comps], f"synthetic [{detector}: {embedder}]"
        )
        lfw_faces = h.lfw_faces(detector, (embedder,))
        event = f"eval-synthetic-{len(rows)}"
        write_event(h.store(), event, detector_from_spec(detector, h.folders).model_id, emb.model_id, faces)
        qs = []
        for q in queries:
            relevant = frozenset(c.name for c in comps if q.identity in c.identities)
            if relevant:
                qs.append((q.identity, h.query_vector(lfw_faces.get(str(q.path)), emb.model_id), relevant, frozenset()))
        answers = run_queries(h.store(), event, emb, qs, enrol=enrol, expand=expand)
        if keep:
            h.answers[("synthetic", emb.model_id)] = answers
        thr = float(threshold if threshold is not None else emb.default_threshold)
        row = retrieval_row(
            f"{title} ({sum(len(f.boxes) for f in faces.values())} faces found)", answers, thr, sweep_grid(emb.metric)
        )
        rows.append(retrieval_cells(row))
    s.table(RETRIEVAL_HEADER, rows)
    return s
