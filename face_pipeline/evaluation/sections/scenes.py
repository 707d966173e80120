"""The whole path on real scenes with who-is-in-it labels: the library's ingest into pgvector (scan,
detect, embed, one transaction), then `find_person` with reference files, as a user runs it."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path

from face_pipeline.evaluation import metrics as M
from face_pipeline.evaluation.context import Harness
from face_pipeline.evaluation.datasets import Scene, read_scene_labels, same_person
from face_pipeline.evaluation.report import Section, target
from face_pipeline.evaluation.retrieval import QueryAnswer
from face_pipeline.evaluation.sections.lfw import comparison_embedders
from face_pipeline.lib.errors import FacePipelineError
from face_pipeline.lib.ingest import ingest_event
from face_pipeline.lib.models import get_embedder
from face_pipeline.lib.search import find_person
from face_pipeline.lib.settings import Settings

EVENT = "scenes"
ANY_DISTANCE = 100.0  # ask for every candidate; thresholds are applied afterwards


def stage_scene_photos(scenes: list[Scene], event_folder: Path) -> None:
    """The labelled scene photos laid out as one event folder (copied once), to be ingested like any event."""
    for s in scenes:
        target_path = event_folder / s.relpath
        target_path.parent.mkdir(parents=True, exist_ok=True)
        if not target_path.exists():
            shutil.copy2(s.path, target_path)


def ingest_scenes(h: Harness, name: str, event: str) -> tuple[list[Scene], Settings]:
    """The scenes ingested afresh as `event` under h.tmp/name with ours' settings: where scene lookups start."""
    scenes = read_scene_labels(h.config.scenes)
    root = h.tmp / name
    stage_scene_photos(scenes, root / event)
    settings = replace(
        h.config.settings, photos_root=root, data_dir=h.tmp / f"{name}_data", dsn=h.store().dsn, workers=h.cache.workers
    )
    h.store().delete_event(event)
    ingest_event(settings, h.store(), event)
    return scenes, settings


def query_definitions(h: Harness, scenes: list[Scene]) -> list[tuple[str, str, list[Path], frozenset[str]]]:
    """(label, identity, reference files, excluded photos): the first single-person photo of each
    identity with >= 2 scene photos (excluded from its own answer), and up to 3 LFW photos of each
    person who also appears in the scenes."""
    by_id: dict[str, list[Scene]] = {}
    for s in scenes:
        for i in s.identities:
            by_id.setdefault(i, []).append(s)
    out = []
    for identity, ss in sorted(by_id.items()):
        singles = [
            s for s in sorted(ss, key=lambda s: s.relpath) if s.identities == {identity} and s.people_visible == 1
        ]
        if len(ss) >= 2 and singles:
            out.append((f"{identity} (scene photo)", identity, [singles[0].path], frozenset({singles[0].relpath})))
    if h.config.lfw:
        for identity, photos in sorted(h.lfw_set().by_identity().items()):
            labels = [i for i in by_id if same_person(identity, i)]
            if labels:
                out.append(
                    (
                        f"{labels[0]} (LFW {identity}, {min(3, len(photos))} ref)",
                        labels[0],
                        [p.path for p in photos[:3]],
                        frozenset(),
                    )
                )
    return out


def ranked_answers(settings, store, query_defs, scenes, note, where: str) -> list[QueryAnswer]:
    answers = []
    for label, identity, refs, excluded in query_defs:
        try:
            res = find_person(settings, store, refs, k=50, threshold=ANY_DISTANCE, events=[EVENT])
            got = [(m.path, m.distance) for m in res.matches if m.path not in excluded]
        except FacePipelineError as exc:  # a reference without a usable face is a failed query
            note(f"{where} {label}: {exc}")
            got = []
        relevant = frozenset(s.relpath for s in scenes if identity in s.identities and s.relpath not in excluded)
        answers.append(QueryAnswer(label, M.RankedQuery(tuple(p for p, _ in got), tuple(d for _, d in got), relevant)))
    return answers


def scenes_section(h: Harness) -> Section:
    scenes = read_scene_labels(h.config.scenes)
    root = h.tmp / "scenes_photos"
    stage_scene_photos(scenes, root / EVENT)
    query_defs = query_definitions(h, scenes)
    multi = [s for s in scenes if len(s.identities) >= 2]
    sec = Section(
        f"Photo level on real multi-person scenes (`{h.config.scenes}`)",
        f"{len(scenes)} photos ingested as one event by the library (scan, detect, embed, one pgvector "
        f"transaction), then `find_person` with reference files; {len(query_defs)} queries: the first "
        "single-person photo of each identity with >= 2 scene photos (excluded from its own answer) and up "
        "to 3 LFW photos of the people who also appear in the scenes.",
    )
    runs = [(r.key, r.title, r.detector, r.embedder, r.threshold) for r in h.runnable() if ":" not in r.detector]
    runs += [
        (f"model:{n}", f"{n} on ours' detector", h.ours.detector, n, None)
        for n in comparison_embedders(h)
        if n != h.ours.embedder
    ]
    rows, found_rows, per_query = [], [], []
    for key, title, detector, embedder, threshold in runs:
        settings = replace(
            h.config.settings,
            photos_root=root,
            data_dir=h.tmp / f"scenes_data_{len(rows)}",
            dsn=h.store().dsn,
            detector=detector,
            embedder=embedder,
            workers=h.cache.workers,
        )
        h.store().delete_event(EVENT)
        t0 = time.perf_counter()
        ingest_event(settings, h.store(), EVENT)
        seconds = time.perf_counter() - t0
        answers = ranked_answers(settings, h.store(), query_defs, scenes, h.notes.append, f"scenes [{key}]")
        emb = get_embedder(embedder, settings.model_folders)
        if key == "ours" or key.startswith("model:"):
            h.answers[("scenes", emb.model_id)] = answers
        thr = float(threshold if threshold is not None else emb.default_threshold)
        p, r = M.retrieval_at([a.ranked for a in answers], thr)
        found = {
            (s.relpath, i): s.relpath in a.ranked.answer(thr)
            for a, (_l, i, _r, _e) in zip(answers, query_defs, strict=True)
            for s in multi
            if i in s.identities
        }
        found_any = {}
        for (path, identity), ok in found.items():
            found_any[(path, identity)] = found_any.get((path, identity), False) or ok
        wrong = sum(len(set(a.ranked.answer(thr)) - a.ranked.relevant) for a in answers)
        n_found = sum(found_any.values())
        rows.append((title, len(answers), p, r, f"{n_found}/{len(found_any)}", wrong, f"{seconds:.0f} s"))
        found_rows.append(
            (
                title,
                ", ".join(
                    f"{Path(pth).name}:{i} {'yes' if ok else '**no**'}" for (pth, i), ok in sorted(found_any.items())
                ),
            )
        )
        if key == "ours":
            measured = f"{n_found}/{len(found_any)} (scene, person) found, {wrong} wrong photos returned"
            sec.targets.append(
                target(
                    "real scenes: every labelled person found, nobody else",
                    measured,
                    (n_found == len(found_any) and wrong == 0) if found_any else None,
                )
            )
            per_query = [
                (a.query, len(a.ranked.answer(thr)), *M.precision_recall(a.ranked.answer(thr), a.ranked.relevant))
                for a in answers
            ]
    sec.table(
        (
            "recipe",
            "queries",
            "mean precision",
            "mean recall",
            "multi-person (scene, person) found",
            "wrong photos",
            "ingest",
        ),
        rows,
    )
    sec.table(("recipe", "found"), found_rows, "Multi-person scenes, person by person:")
    if per_query:
        sec.table(("query", "returned", "precision", "recall"), per_query, "Ours, per query:")
    if not multi:
        sec.notes.append("no photo of this set shows two labelled people: the multi-person target is not measured")
    return sec
