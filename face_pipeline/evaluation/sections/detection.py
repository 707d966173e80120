"""Detection on group photos: WIDER FACE event photos (faces >= 40 px) and the bundled demo photos
(astronauts floating sideways and upside down; boxes in demo/face_boxes.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from face_pipeline.evaluation import metrics as M
from face_pipeline.evaluation.context import Harness
from face_pipeline.evaluation.datasets import read_wider_folder
from face_pipeline.evaluation.report import Section, target

SIZE_EDGES = (40, 60, 80, 120, 200)  # longer box side, px; smaller faces are neither hits nor misses
DETECTION_IOU = 0.3
PRECISION_FLOOR = 0.95


@dataclass
class Labelled:
    key: str
    path: Path
    boxes: list[tuple[float, float, float, float]]
    ignore: list[bool]
    sizes: list[float]


def detector_rows(h: Harness) -> list[tuple[str, str]]:
    """(label, detector spec): the recipes' detectors, then --detector rows, each once."""
    rows, seen = [], set()
    for r in h.runnable():
        if r.detector not in seen:
            rows.append((f"{r.key}: {r.detector}", r.detector))
            seen.add(r.detector)
    for spec in h.config.detectors:
        if spec not in seen:
            rows.append((spec, spec))
            seen.add(spec)
    return rows


def measure(h: Harness, photos: list[Labelled], spec: str, label: str) -> dict:
    found = h.cache.get([h.job(p.key, spec, (), path=str(p.path)) for p in photos], f"{label} [{spec}]")
    counted = sum(1 for p in photos for ig in p.ignore if not ig)
    per_photo = [(list(zip(found[p.key].boxes, found[p.key].scores, strict=True)), p) for p in photos]
    hits = fa = 0
    per_bucket: dict[str, list[int]] = {}
    for dets, p in per_photo:
        m = M.match_detections(dets, p.boxes, p.ignore, DETECTION_IOU)
        hits, fa = hits + m.hits, fa + m.false_alarms
        for size, ok, ign in zip(p.sizes, m.found, p.ignore, strict=True):
            if not ign:
                bucket = per_bucket.setdefault(M.size_bucket(size, SIZE_EDGES), [0, 0])
                bucket[0] += 1
                bucket[1] += int(ok)
    recall = hits / counted if counted else float("nan")
    precision = hits / (hits + fa) if hits + fa else float("nan")
    return {
        "faces": counted,
        "hits": hits,
        "false_alarms": fa,
        "recall": recall,
        "precision": precision,
        "at_floor": recall_at_precision(per_photo, counted),
        "buckets": per_bucket,
        "ms": 1000 * float(np.mean([found[p.key].seconds_detect for p in photos])),
    }


def recall_at_precision(per_photo, counted: int) -> tuple[float, float]:
    """(recall, score threshold) at the lowest score threshold, among the scores the detector kept at
    its shipped threshold, whose precision is >= PRECISION_FLOOR (matching redone at each one)."""
    scores = sorted({s for dets, _p in per_photo for _b, s in dets})
    grid = scores if len(scores) <= 60 else [scores[int(i)] for i in np.linspace(0, len(scores) - 1, 60)]
    for t in grid:  # ascending: the first that reaches the floor keeps the most faces
        hits = fa = 0
        for dets, p in per_photo:
            m = M.match_detections([d for d in dets if d[1] >= t], p.boxes, p.ignore, DETECTION_IOU)
            hits, fa = hits + m.hits, fa + m.false_alarms
        if hits + fa and hits / (hits + fa) >= PRECISION_FLOOR and counted:
            return hits / counted, float(t)
    return 0.0, float("nan")


def wider_section(h: Harness) -> Section:
    photos = read_wider_folder(h.config.wider)
    if h.config.quick:
        photos = photos[::4]
    labelled = [
        Labelled(
            str(p.path),
            p.path,
            [f.box for f in p.faces],
            [f.invalid or f.size < SIZE_EDGES[0] for f in p.faces],
            [f.size for f in p.faces],
        )
        for p in photos
    ]
    s = Section(
        f"Detection: WIDER FACE group photos (`{h.config.wider}`)",
        f"{len(photos)} photos; faces with longer side >= {SIZE_EDGES[0]} px and not marked invalid count; "
        f"a hit is IoU >= {DETECTION_IOU} (greedy, highest score first); detections on smaller faces are "
        "ignored. P and R at each detector's shipped score threshold; 'R at P >= 0.95' raises the score "
        "threshold until precision reaches 0.95. Time: detection + landmarks per photo, one process.",
    )
    rows, bucket_rows = [], []
    labels = [M.size_bucket(e, SIZE_EDGES) for e in SIZE_EDGES]
    for label, spec in detector_rows(h):
        m = measure(h, labelled, spec, "WIDER")
        rows.append(
            (
                label,
                m["faces"],
                m["hits"],
                m["false_alarms"],
                m["recall"],
                m["precision"],
                f"{m['at_floor'][0]:.3f} (score {m['at_floor'][1]:.2f})",
                f"{m['ms']:.0f}",
            )
        )
        bucket_rows.append(
            (label, *[f"{b[1] / b[0]:.2f} ({b[0]})" if (b := m["buckets"].get(x)) else "n/a" for x in labels])
        )
        if spec == h.ours.detector:
            s.targets.append(
                target(
                    f"WIDER: detection recall >= 0.95 at precision >= 0.95 (faces >= {SIZE_EDGES[0]} px)",
                    f"R {m['recall']:.3f}, P {m['precision']:.3f} at the shipped threshold",
                    m["recall"] >= 0.95 and m["precision"] >= 0.95,
                )
            )
    s.table(("detector", "faces", "hits", "false alarms", "recall", "precision", "R at P >= 0.95", "ms/photo"), rows)
    s.table(("detector", *labels), bucket_rows, "Recall by face size (longer box side, px; faces in brackets):")
    return s


def demo_section(h: Harness) -> Section:
    boxes = json.loads((h.config.demo / "face_boxes.json").read_text())["faces"]
    labelled = []
    for rel, faces in sorted(boxes.items()):
        path = h.config.demo / "photos" / rel
        if path.is_file():
            sizes = [max(b[2] - b[0], b[3] - b[1]) for b in faces]
            labelled.append(Labelled(f"demo:{rel}", path, [tuple(b) for b in faces], [False] * len(faces), sizes))
    for path in sorted((h.config.demo / "photos").rglob("*.jpg")):  # photos without any face
        rel = path.relative_to(h.config.demo / "photos").as_posix()
        if rel not in boxes:
            labelled.append(Labelled(f"demo:{rel}", path, [], [], []))
    s = Section(
        f"Detection: demo photos, crews floating sideways (`{h.config.demo}`)",
        f"{len(labelled)} event photos, {sum(len(p.boxes) for p in labelled)} faces labelled by hand "
        "(demo/face_boxes.json: every face any detector found, in any orientation, checked by eye). "
        f"Hit: IoU >= {DETECTION_IOU}.",
    )
    rows = []
    for label, spec in detector_rows(h):
        m = measure(h, labelled, spec, "demo")
        rows.append((label, m["faces"], m["hits"], m["false_alarms"], m["recall"], m["precision"], f"{m['ms']:.0f}"))
    s.table(("detector", "faces", "hits", "false alarms", "recall", "precision", "ms/photo"), rows)
    return s
