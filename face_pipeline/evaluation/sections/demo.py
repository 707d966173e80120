"""The demo photos that ship with the package: two events of space-station crews (many faces sideways
or upside down), and official portraits of five astronauts who recur. Each portrait must find its
astronaut in every photo he is in (demo/recurring_people.csv), and in no other."""

from __future__ import annotations

import csv
import shutil
from dataclasses import replace
from pathlib import Path

from face_pipeline.evaluation import metrics as M
from face_pipeline.evaluation.context import Harness
from face_pipeline.evaluation.report import Section, target
from face_pipeline.evaluation.retrieval import QueryAnswer
from face_pipeline.evaluation.sections.lfw import comparison_embedders
from face_pipeline.lib.errors import FacePipelineError
from face_pipeline.lib.ingest import ingest_event
from face_pipeline.lib.models import get_embedder
from face_pipeline.lib.search import find_person

ANY_DISTANCE = 100.0


def copy_demo_events(demo: Path, root: Path) -> list[str]:
    """The demo's events, copied under `root` once (the harness never writes beside the package's
    photos); returns their names."""
    events = sorted(p.name for p in (demo / "photos").iterdir() if p.is_dir())
    for event in events:
        if not (root / event).exists():
            shutil.copytree(demo / "photos" / event, root / event)
    return events


def recurring_people(demo: Path) -> list[tuple[str, Path, frozenset[str]]]:
    """(astronaut, his portrait, the "event/photo" names he is in) from demo/recurring_people.csv."""
    with open(demo / "recurring_people.csv", newline="") as fh:
        return [
            (row["person"], demo / row["reference"], frozenset(row["photos"].split(";"))) for row in csv.DictReader(fh)
        ]


def demo_retrieval_section(h: Harness) -> Section:
    demo = h.config.demo
    root = h.tmp / "demo_photos"
    events = copy_demo_events(demo, root)
    people = recurring_people(demo)
    sec = Section(
        f"Demo photos: recurring astronauts across two events (`{demo}`)",
        f"{sum(1 for _ in root.rglob('*.jpg'))} photos in {len(events)} events, ingested by the library; "
        f"{len(people)} official portraits as references, each searched across both events. Relevant: the "
        "photos recurring_people.csv lists for the person.",
    )
    runs = [(r.key, r.title, r.detector, r.embedder, r.threshold) for r in h.runnable() if ":" not in r.detector]
    runs += [
        (f"model:{n}", f"{n} on ours' detector", h.ours.detector, n, None)
        for n in comparison_embedders(h)
        if n != h.ours.embedder
    ]
    rows, person_rows = [], []
    for key, title, detector, embedder, threshold in runs:
        settings = replace(
            h.config.settings,
            photos_root=root,
            data_dir=h.tmp / f"demo_data_{len(rows)}",
            dsn=h.store().dsn,
            detector=detector,
            embedder=embedder,
            workers=h.cache.workers,
        )
        for event in events:
            h.store().delete_event(event)
            ingest_event(settings, h.store(), event)
        answers = []
        for person, reference, relevant in people:
            try:
                res = find_person(settings, h.store(), reference, k=50, threshold=ANY_DISTANCE)
                got = [(f"{m.event}/{m.path}", m.distance) for m in res.matches]
            except FacePipelineError as exc:
                h.notes.append(f"demo [{key}] {person}: {exc}")
                got = []
            answers.append(
                QueryAnswer(person, M.RankedQuery(tuple(p for p, _ in got), tuple(d for _, d in got), relevant))
            )
        emb = get_embedder(embedder, settings.model_folders)
        if key == "ours" or key.startswith("model:"):
            h.answers[("demo", emb.model_id)] = answers
        thr = float(threshold if threshold is not None else emb.default_threshold)
        p, r = M.retrieval_at([a.ranked for a in answers], thr)
        complete = sum(1 for a in answers if a.ranked.relevant <= set(a.ranked.answer(thr)))
        wrong = sum(len(set(a.ranked.answer(thr)) - a.ranked.relevant) for a in answers)
        rows.append((title, p, r, f"{complete}/{len(answers)}", wrong))
        person_rows.append(
            (
                title,
                "; ".join(
                    f"{a.query} {len(a.ranked.relevant & set(a.ranked.answer(thr)))}/{len(a.ranked.relevant)}"
                    + (
                        f" +{len(set(a.ranked.answer(thr)) - a.ranked.relevant)} wrong"
                        if set(a.ranked.answer(thr)) - a.ranked.relevant
                        else ""
                    )
                    for a in answers
                ),
            )
        )
        if key == "ours":
            sec.targets.append(
                target(
                    "demo photos: each recurring astronaut found in every photo he is in",
                    f"{complete}/{len(answers)} people complete, {wrong} wrong photos",
                    complete == len(answers),
                )
            )
    sec.table(("recipe", "mean precision", "mean recall", "people found in all their photos", "wrong photos"), rows)
    sec.table(("recipe", "per person (found/relevant)"), person_rows)
    return sec
