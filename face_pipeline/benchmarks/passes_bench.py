"""Passes only where they pay (issue 24): which photos need RetinaFace's turned passes, and which faces
need FaceNet's flip pass. Each rule is measured for its cost (passes run, CPU time) and its effect on
quality, on the data the harness uses: WIDER group photos and the demo photos for the turned passes,
LFW retrieval (the harness's queries and search) for the flip.

    python -m face_pipeline.benchmarks --part passes
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from face_pipeline.benchmarks.environment import load_average

Rule = Callable[[dict], bool]


@dataclass
class PassesFigures:
    turned: list[tuple] = field(default_factory=list)  # rule, fires WIDER, fires demo, WIDER hits/FA/R, demo hits, ms
    flip: list[tuple] = field(default_factory=list)  # rule, share flipped, P/R at 0.39, best
    flip_by_size: list[tuple] = field(default_factory=list)  # size bucket, faces, mean gap, p90 gap
    load: str = ""
    upright_ms: float = 0.0
    turned_ms: float = 0.0


# ---- the turned passes -------------------------------------------------------------------------


def _photos(datasets: Path, demo: Path) -> list[tuple[str, Path, list, list]]:
    import json

    from face_pipeline.evaluation.datasets import read_wider_folder

    out = [
        ("wider", p.path, [f.box for f in p.faces], [f.invalid or f.size < 40 for f in p.faces])
        for p in read_wider_folder(datasets / "wider_face_val_groups")
    ]
    boxes = json.loads((demo / "face_boxes.json").read_text())["faces"]
    for path in sorted((demo / "photos").rglob("*.jpg")):
        labelled = [tuple(b) for b in boxes.get(path.relative_to(demo / "photos").as_posix(), [])]
        out.append(("demo", path, labelled, [False] * len(labelled)))
    return out


def _passes_of_photos(photos: list, rot3) -> list[dict]:
    """Every photo's upright candidates (down to 0.05) and turned-pass faces, with the CPU time of each."""
    from face_pipeline.lib.models.detectors.rotations import unrotate
    from face_pipeline.lib.photos.decode import load_rgb

    up, turned = rot3.upright, rot3.rotated
    seen = []
    for kind, path, gt, ignore in photos:
        rgb = load_rgb(path, max_side=2400).rgb
        h, w = rgb.shape[:2]
        t0 = time.process_time()
        low = up.detect_at(rgb, 0.05)
        t1 = time.process_time()
        extra = [
            b
            for k in rot3.turns
            for f in turned.detect_at(np.ascontiguousarray(np.rot90(rgb, k)), rot3.rotated_score)
            if (b := unrotate(f, k, h, w)) is not None
        ]
        t2 = time.process_time()
        seen.append(
            {"kind": kind, "gt": gt, "ignore": ignore, "low": low, "turned": extra, "up": t1 - t0, "rot": t2 - t1}
        )
    return seen


def measure_turned(datasets: Path, demo: Path, figs: PassesFigures) -> None:
    """One upright pass (candidates down to 0.05) and the three turned passes of every photo, then
    each rule's choice of photos replayed on those results."""
    from face_pipeline.evaluation import metrics as M
    from face_pipeline.lib.models import get_detector
    from face_pipeline.lib.models.detectors.onnx_decoding import nms
    from face_pipeline.lib.models.detectors.rotations import TurnedCandidate, tilt_degrees

    rot3 = get_detector("retinaface-mnet025-rot3")
    up = rot3.upright
    seen = _passes_of_photos(_photos(datasets, demo), rot3)

    def merged(p: dict, with_turned: bool) -> list:
        found = [(f.box, f.score + rot3.upright_bonus, f.score) for f in p["low"] if f.score >= up.score_threshold]
        found += [(f.box, f.score, f.score) for f in p["turned"]] if with_turned else []
        if not found:
            return []
        keep = nms(np.array([f[0] for f in found], float), np.array([f[1] for f in found]), rot3.merge_iou)
        return [(found[i][0], found[i][2]) for i in keep]

    def tilted(p: dict, low: float, angle: float) -> bool:
        return any(f.score >= low and tilt_degrees(f.landmarks) > angle for f in p["low"])

    shipped = TurnedCandidate()
    rules: dict[str, Rule] = {
        "never (retinaface-mnet025)": lambda p: False,
        "always (retinaface-mnet025-rot3, the previous default)": lambda p: True,
        "no face found upright": lambda p: not any(f.score >= up.score_threshold for f in p["low"]),
        "a face (score >= 0.6) turned > 45 degrees": lambda p: tilted(p, 0.6, 45),
        "a candidate (score >= 0.3) turned > 45 degrees": lambda p: tilted(p, 0.3, 45),
        "a candidate (score >= 0.05) turned > 45 degrees": lambda p: tilted(p, 0.05, 45),
        f"**a candidate (score >= {shipped.min_score:g}) turned > {shipped.max_tilt:g} degrees "
        "(retinaface-mnet025-autorot, the default)**": lambda p: shipped.fires(p["low"]),
        "a candidate (score >= 0.05) turned > 90 degrees": lambda p: tilted(p, 0.05, 90),
    }
    figs.upright_ms = 1000 * float(np.mean([p["up"] for p in seen]))
    figs.turned_ms = 1000 * float(np.mean([p["rot"] for p in seen]))
    for name, rule in rules.items():
        row: dict[str, list[int]] = {
            "wider": [0, 0, 0, 0, 0],
            "demo": [0, 0, 0, 0, 0],
        }  # fires, photos, hits, FA, faces
        ms = []
        for p in seen:
            fires = rule(p)
            m = M.match_detections(merged(p, fires), p["gt"], p["ignore"], 0.3)
            r = row[p["kind"]]
            r[0] += fires
            r[1] += 1
            r[2] += m.hits
            r[3] += m.false_alarms
            r[4] += sum(1 for i in p["ignore"] if not i)
            ms.append(1000 * (p["up"] + fires * p["rot"]))
        wd, dm = row["wider"], row["demo"]
        figs.turned.append(
            (
                name,
                f"{wd[0]}/{wd[1]}",
                f"{dm[0]}/{dm[1]}",
                wd[2],
                wd[3],
                wd[2] / wd[4],
                wd[2] / max(1, wd[2] + wd[3]),
                f"{dm[2]}/{dm[4]}",
                float(np.mean(ms)),
            )
        )


# ---- the flip pass ------------------------------------------------------------------------------


def measure_flip(datasets: Path, dsn: str, workers: int, figs: PassesFigures, log=print) -> None:
    """LFW retrieval with plain, flipped or mixed stored vectors (the harness's queries, pgvector and
    the library's search), and how far the flip moves a face's vector by face size on WIDER."""
    from face_pipeline.evaluation import metrics as M
    from face_pipeline.evaluation.analysis import PhotoFaces
    from face_pipeline.evaluation.context import Harness, HarnessConfig
    from face_pipeline.evaluation.retrieval import run_queries, write_event
    from face_pipeline.evaluation.sections.lfw import queries_for
    from face_pipeline.lib.models import get_embedder
    from face_pipeline.lib.search import DEFAULT_ENROL, DEFAULT_EXPAND
    from face_pipeline.lib.settings import Settings

    plain, flip, detector = "facenet-v1", "facenet-v1-flip", "retinaface-mnet025"
    h = Harness(
        HarnessConfig(settings=Settings.from_env(), lfw=datasets / "lfw_deepfunneled_subset", dsn=dsn, workers=workers),
        log=log,
    )
    try:
        faces = h.lfw_faces(detector, (plain, flip))
        emb = get_embedder(flip)
        yaws = {k: _yaw(pf) for k, pf in faces.items() if pf.boxes}
        gaps = {k: 1 - (pf.vectors[plain] * pf.vectors[flip]).sum(axis=1) for k, pf in faces.items() if pf.boxes}
        all_yaw, all_gap = np.concatenate(list(yaws.values())), np.concatenate(list(gaps.values()))

        def evaluate(label: str, pick: Callable[[str], np.ndarray], query_flip: bool = False) -> None:
            stored, queries, n, flipped = {}, {}, 0, 0
            for key, pf in faces.items():
                sel = pick(key) if pf.boxes else np.zeros(0, bool)
                v = np.where(
                    sel[:, None], pf.vectors.get(flip, np.zeros((0, 128))), pf.vectors.get(plain, np.zeros((0, 128)))
                )
                n, flipped = n + len(sel), flipped + int(sel.sum())
                stored[key] = PhotoFaces(
                    pf.key, pf.boxes, pf.scores, {"mixed": v}, pf.face_keys, pf.landmarks, pf.width, pf.height
                )
                q = pf.vectors.get(flip, np.zeros((0, 128))) if query_flip else v
                queries[key] = PhotoFaces(
                    pf.key, pf.boxes, pf.scores, {"mixed": q}, pf.face_keys, pf.landmarks, pf.width, pf.height
                )
            write_event(h.store(), "passes-flip", "bench", "mixed", stored)
            emb_mixed = type(emb)(emb.onnx_path)
            emb_mixed.model_id = "mixed"
            answers = run_queries(
                h.store(),
                "passes-flip",
                emb_mixed,
                queries_for(h, queries, "mixed"),
                enrol=DEFAULT_ENROL,
                expand=DEFAULT_EXPAND,
            )
            ranked = [a.ranked for a in answers]
            p, r = M.retrieval_at(ranked, emb.default_threshold)
            best = M.choose_threshold(M.sweep(ranked, np.round(np.arange(0.30, 0.50001, 0.005), 3)))
            figs.flip.append((label, flipped / max(1, n), p, r, f"{best[0]:g}: {best[1]:.3f} / {best[2]:.3f}"))
            log(f"  flip rule {label}: {figs.flip[-1]}")

        none = {k: np.zeros(len(v), bool) for k, v in yaws.items()}
        evaluate("none (facenet-v1 vectors)", lambda k: none[k])
        evaluate("every face (facenet-v1-flip; the shipped int8 copy flips every face too)", lambda k: ~none[k])
        for q in (50, 70, 90):
            t = float(np.percentile(all_yaw, q))
            evaluate(
                f"faces turned from frontal (yaw > {t:.2f} eye distances, the top {100 - q} %)",
                lambda k, t=t: yaws[k] > t,
            )
        g = float(np.percentile(all_gap, 70))
        evaluate("the 30 % the flip moves most (an oracle: needs the flip pass to know)", lambda k, g=g: gaps[k] > g)
        evaluate("none stored; the query flipped (lookup time)", lambda k: none[k], query_flip=True)
        _flip_by_size(h, datasets, detector, plain, flip, figs)
    finally:
        h.close()


def _yaw(pf) -> np.ndarray:
    """Nose off the face's midline, in eye distances, after alignment (0 = frontal), per face of `pf`."""
    from face_pipeline.lib.models.alignment import ARCFACE_TEMPLATE_112, similarity_transform

    out = []
    for lm in pf.landmarks:
        pts = np.asarray(lm, dtype=np.float64).reshape(5, 2)
        m = similarity_transform(pts, ARCFACE_TEMPLATE_112)
        a = pts @ m[:, :2].T + m[:, 2]
        mid = ((a[0, 0] + a[1, 0]) / 2 + (a[3, 0] + a[4, 0]) / 2) / 2
        out.append(abs(a[2, 0] - mid) / max(1e-6, a[1, 0] - a[0, 0]))
    return np.asarray(out)


def _flip_by_size(h, datasets: Path, detector: str, plain: str, flip: str, figs: PassesFigures) -> None:
    """How far the flip moves a face's vector, by face size, on the WIDER photos."""
    from face_pipeline.evaluation.datasets import read_wider_folder

    wider = read_wider_folder(datasets / "wider_face_val_groups")
    found = h.cache.get([h.job(str(p.path), detector, (plain, flip), path=str(p.path)) for p in wider], "WIDER")
    sizes = np.concatenate([[max(b[2] - b[0], b[3] - b[1]) for b in pf.boxes] for pf in found.values() if pf.boxes])
    moved = np.concatenate(
        [1 - (pf.vectors[plain] * pf.vectors[flip]).sum(axis=1) for pf in found.values() if pf.boxes]
    )
    for lo, hi in ((0, 32), (32, 48), (48, 64), (64, 100), (100, 100_000)):
        m = (sizes >= lo) & (sizes < hi)
        label = f"{lo}-{hi - 1} px" if hi < 100_000 else f"{lo}+ px"
        figs.flip_by_size.append((label, int(m.sum()), float(moved[m].mean()), float(np.percentile(moved[m], 90))))


def run_passes_benchmark(*, datasets: Path, demo: Path, dsn: str, workers: int, log=print) -> PassesFigures:
    figs = PassesFigures(load=load_average())
    log("passes: the turned passes on WIDER and the demo photos")
    measure_turned(datasets, demo, figs)
    log("passes: the flip pass on LFW")
    measure_flip(datasets, dsn, workers, figs, log=log)
    figs.load += f" -> {load_average()}"
    return figs


def passes_markdown(f: PassesFigures, head: str) -> str:
    lines = [
        "## Passes only where they pay: turned detector passes, flip pass",
        "",
        head,
        f"- machine load (1/5/15 min) before -> after: {f.load}",
        "",
        "**Turned passes** (RetinaFace on the photo turned 90, 180 and 270 degrees at 640 px): every WIDER "
        "group photo (faces >= 40 px count, IoU 0.3) and demo photo, one upright pass keeping candidates down "
        "to score 0.05 and the three turned passes each; each rule then decides per photo from the upright "
        f"pass alone. CPU per photo, one thread: upright pass {f.upright_ms:.0f} ms, the three turned passes "
        f"{f.turned_ms:.0f} ms.",
        "",
        "| rule: the turned passes run when ... | fires (WIDER) | fires (demo) | WIDER hits | false alarms | "
        "WIDER recall | precision | demo faces found | detection CPU ms/photo |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, fw, fd, hits, fa, rec, prec, demo, ms in f.turned:
        lines.append(f"| {name} | {fw} | {fd} | {hits} | {fa} | {rec:.3f} | {prec:.3f} | {demo} | {ms:.0f} |")
    lines += [
        "",
        "**Flip pass** (FaceNet on each chip and its mirror image, vectors averaged): LFW retrieval as the harness "
        "measures it (201 queries, pgvector, the library's search with expansion), with the stored vectors "
        "flipped for the faces a rule picks and plain for the others; the query as stored unless said. "
        "Cost: embedding passes per face = 1 + the share flipped.",
        "",
        "| flip ... | share of faces flipped | LFW P at 0.39 | LFW R at 0.39 | best threshold: P / R |",
        "|---|---|---|---|---|",
    ]
    for name, share, p, r, best in f.flip:
        lines.append(f"| {name} | {share:.0%} | {p:.3f} | {r:.3f} | {best} |")
    lines += [
        "",
        "How far the flip moves a face's vector (cosine distance plain -> flipped), by face size, WIDER faces:",
        "",
        "| face size | faces | mean | 90th percentile |",
        "|---|---|---|---|",
    ]
    for label, n, mean, p90 in f.flip_by_size:
        lines.append(f"| {label} | {n} | {mean:.4f} | {p90:.4f} |")
    return "\n".join(lines) + "\n"
