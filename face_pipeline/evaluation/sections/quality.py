"""Right on photos nobody tuned for (issue 23), ours only (the shipped detector and embedder):

- the threshold chosen by 5-fold cross-validation over identity folds of the dev data (LFW,
  synthetic event photos, real scenes; a person's queries in every set share a fold), by the rule the
  shipped operating points use (mean over the sets of min(mean P, mean R)): each fold's threshold,
  chosen on the other four, judged on the held-out people; the cut is the median of the fold
  thresholds over 5 repeated splits; how P/R move at +-0.01 and +-0.02 around it;
- recall by face size (width of the labelled face, px) and the distance distributions by face width
  and detector score, at the shipped threshold;
- size- and score-aware decisions: a logistic model of "same person" on distance, face width and
  detector score against one on distance alone, each fitted on identity folds and judged held out;
- people-backed lookups (`with_person_photos`): what the matching person's other photos add, and cost;
- the synthetic event photos as a target at the shipped settings;
- the worst cases at the shipped threshold (missed (reference, photo) pairs, strangers returned),
  with thumbnails, in an HTML page next to the report.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from face_pipeline.evaluation import crossval as CV
from face_pipeline.evaluation import metrics as M
from face_pipeline.evaluation import size_aware
from face_pipeline.evaluation.context import Harness
from face_pipeline.evaluation.datasets import same_person
from face_pipeline.evaluation.recipes import detector_from_spec
from face_pipeline.evaluation.report import Section, target
from face_pipeline.evaluation.retrieval import QueryAnswer, run_queries, sweep_grid, write_event
from face_pipeline.evaluation.sections.scenes import EVENT as SCENES_EVENT
from face_pipeline.evaluation.sections.scenes import (
    ingest_scenes,
    query_definitions,
    ranked_answers,
)
from face_pipeline.evaluation.synthetic import Composite, plan_composites, render
from face_pipeline.lib.errors import FacePipelineError
from face_pipeline.lib.models import distance, get_embedder
from face_pipeline.lib.people import update_people_for_event
from face_pipeline.lib.search import find_person, with_person

LFW_EVENT, SYN_EVENT = "quality-lfw", "quality-synthetic"
K, SEEDS = 5, (0, 1, 2, 3, 4)
WIDTH_EDGES = (0, 40, 60, 80, 100, 120)  # face width, px
SCORE_EDGES = (0.0, 0.8, 0.9, 0.97, 0.99, 0.999)  # detector score
WORST = 24  # worst cases of each kind in the HTML page


def bucket(value: float | None, edges: tuple) -> str:
    if value is None:
        return "not detected"
    label = f"<{edges[0]:g}"
    for lo, hi in zip(edges, [*edges[1:], None], strict=True):
        if value >= lo and (hi is None or value < hi):
            label = f"{lo:g}+" if hi is None else f"{lo:g}-{hi:g}"
    return label


@dataclass
class Labelled:
    """Where a labelled face is: photo key, face index in the analysed photo (None: not detected)."""

    photo: str
    face: int | None


@dataclass
class SetData:
    name: str
    answers: list[QueryAnswer]
    identities: list[str]  # per answer: the fold identity
    query_keys: list[str | None] = None  # per answer: the query photo's key (for thumbnails)
    faces: dict = None  # photo key -> PhotoFaces (analysed sets only)
    labelled: dict = None  # (identity, photo key) -> Labelled face
    composites: dict = None  # photo key -> Composite (synthetic)


# ---- the data: ours' answers on each set -------------------------------------------------------------


def lfw_data(h: Harness, emb, det_model: str) -> SetData:
    faces = h.lfw_faces(h.ours.detector, (h.ours.embedder,))
    write_event(h.store(), LFW_EVENT, det_model, emb.model_id, faces)
    ident = {str(p.path): p.identity for p in h.lfw_set().photos}
    qs, ids, keys = [], [], []
    for q in h.lfw_queries():
        key = str(q.path)
        relevant = frozenset(k for k, i in ident.items() if i == q.identity and k != key)
        qs.append((q.identity, h.query_vector(faces.get(key), emb.model_id), relevant, frozenset({key})))
        ids.append(q.identity)
        keys.append(key)
    answers = run_queries(h.store(), LFW_EVENT, emb, qs, enrol=h.ours.enrol, expand=h.ours.expand)
    labelled = {(i, k): Labelled(k, faces[k].central_face() if k in faces else None) for k, i in ident.items()}
    return SetData("LFW", answers, ids, keys, faces, labelled)


def face_in_tile(pf, tile) -> int | None:
    """The detected face whose centre lies inside the tile, nearest the tile's centre."""
    cx, cy = tile.left + tile.size / 2, tile.top + tile.size / 2
    inside = [
        i
        for i, b in enumerate(pf.boxes)
        if tile.left <= (b[0] + b[2]) / 2 < tile.left + tile.size
        and tile.top <= (b[1] + b[3]) / 2 < tile.top + tile.size
    ]
    if not inside:
        return None
    return min(
        inside,
        key=lambda i: (
            ((pf.boxes[i][0] + pf.boxes[i][2]) / 2 - cx) ** 2 + ((pf.boxes[i][1] + pf.boxes[i][3]) / 2 - cy) ** 2
        ),
    )


def synthetic_data(h: Harness, emb, det_model: str) -> SetData:
    queries = h.lfw_queries()
    qpaths = {q.path for q in queries}
    pool = [p for p in h.lfw_set().photos if p.path not in qpaths]
    comps = plan_composites(pool, count=max(10, h.config.synthetic // (4 if h.config.quick else 1)), seed=0)
    faces = h.cache.get(
        [h.job(c.name, h.ours.detector, (h.ours.embedder,), composite=c) for c in comps],
        f"synthetic [{h.ours.detector}: {h.ours.embedder}]",
    )
    lfw_faces = h.lfw_faces(h.ours.detector, (h.ours.embedder,))
    write_event(h.store(), SYN_EVENT, det_model, emb.model_id, faces)
    qs, ids, keys = [], [], []
    for q in queries:
        relevant = frozenset(c.name for c in comps if q.identity in c.identities)
        if relevant:
            qs.append((q.identity, h.query_vector(lfw_faces.get(str(q.path)), emb.model_id), relevant, frozenset()))
            ids.append(q.identity)
            keys.append(str(q.path))
    answers = run_queries(h.store(), SYN_EVENT, emb, qs, enrol=h.ours.enrol, expand=h.ours.expand)
    labelled = {(t.identity, c.name): Labelled(c.name, face_in_tile(faces[c.name], t)) for c in comps for t in c.tiles}
    return SetData("synthetic", answers, ids, keys, faces, labelled, {c.name: c for c in comps})


def scene_fold_identity(h: Harness, label: str) -> str:
    """A scene label as the LFW identity of the same person, when LFW has them (one fold per person)."""
    if h.config.lfw:
        for identity in sorted(h.lfw_set().by_identity()):
            if same_person(identity, label):
                return identity
    return label


def scenes_data(h: Harness, emb) -> tuple[SetData, list, list]:
    scenes, settings = ingest_scenes(h, "quality_scenes", SCENES_EVENT)
    query_defs = query_definitions(h, scenes)
    answers = ranked_answers(settings, h.store(), query_defs, scenes, h.notes.append, "quality scenes")
    ids = [scene_fold_identity(h, identity) for _l, identity, _r, _e in query_defs]
    return SetData("scenes", answers, ids), query_defs, scenes


# ---- people-backed lookups ---------------------------------------------------------------------------


def people_backed(h: Harness, lookups) -> tuple[tuple, tuple, tuple]:
    """lookups: (references, relevant, excluded, events) -> the rows (plain, with person photos, added)."""
    settings = replace(h.config.settings, dsn=h.store().dsn)
    out = {False: [], True: []}
    added_right = added_wrong = 0
    for refs, relevant, excluded, events in lookups:
        try:
            base = find_person(settings, h.store(), refs, k=200, events=events)
        except FacePipelineError:
            out[False].append((0.0, 0.0))
            out[True].append((0.0, 0.0))
            continue
        got = {}
        for add in (False, True):
            res = with_person(settings, h.store(), base, add_photos=add)
            got[add] = {m.path for m in res.matches} - set(excluded)
            out[add].append(M.precision_recall(got[add], relevant))
        extra = got[True] - got[False]
        added_right += len(extra & set(relevant))
        added_wrong += len(extra - set(relevant))
    mean = {a: (float(np.mean([x[0] for x in v])), float(np.mean([x[1] for x in v]))) for a, v in out.items()}
    return mean[False], mean[True], (added_right, added_wrong, len(out[False]))


# ---- face size and detector score --------------------------------------------------------------------


def pair_rows(data: SetData, thr: float):
    """(set, width bucket, score bucket, found at thr, search distance) for every (query, relevant photo)."""
    rows = []
    for a, identity in zip(data.answers, data.identities, strict=True):
        dist = dict(zip(a.ranked.ids, a.ranked.distances, strict=True))
        for photo in a.ranked.relevant:
            lab = data.labelled.get((identity, photo))
            pf = data.faces.get(photo)
            if lab is None or pf is None:
                continue
            w = s = None
            if lab.face is not None:
                b = pf.boxes[lab.face]
                w, s = b[2] - b[0], float(pf.scores[lab.face])
            d = dist.get(photo, float("inf"))
            rows.append((data.name, bucket(w, WIDTH_EDGES), bucket(s, SCORE_EDGES), d <= thr, d))
    return rows


def face_level(data: SetData, emb, h: Harness) -> list[tuple[str, float, float, bool, float]]:
    """Face-level distances from each query's reference face to the labelled faces of the set:
    (query identity, face width, detector score, same person, distance); bystanders are left out."""
    faces_by_photo: dict[str, list[tuple[str, int]]] = {}
    for (identity, photo), lab in data.labelled.items():
        if lab.face is not None:
            faces_by_photo.setdefault(photo, []).append((identity, lab.face))
    keys, who, widths, scores, vecs = [], [], [], [], []
    for photo, labs in faces_by_photo.items():
        pf = data.faces[photo]
        for identity, i in labs:
            b = pf.boxes[i]
            keys.append(photo)
            who.append(identity)
            widths.append(float(b[2] - b[0]))
            scores.append(float(pf.scores[i]))
            vecs.append(pf.vectors[emb.model_id][i])
    if not vecs:
        return []
    gallery = np.asarray(vecs)
    who_a, keys_a = np.asarray(who), np.asarray(keys)
    lfw_faces = h.lfw_faces(h.ours.detector, (h.ours.embedder,))
    out = []
    for identity, qkey in zip(data.identities, data.query_keys, strict=True):
        qv = h.query_vector(lfw_faces.get(qkey) if qkey else None, emb.model_id)
        if not len(qv):
            continue
        d = distance(gallery, qv[0], emb.metric)
        same = who_a == identity
        for j in np.nonzero(keys_a != qkey)[0]:
            out.append((identity, widths[j], scores[j], bool(same[j]), float(d[j])))
    return out


def face_distances(faces: list[tuple[str, float, float, bool, float]]):
    """face_level's rows as (width bucket, score bucket, same person, distance)."""
    return [(bucket(w, WIDTH_EDGES), bucket(sc, SCORE_EDGES), same, d) for _i, w, sc, same, d in faces]


def distance_rows(name: str, kind: str, dists, thr: float, col: int):
    groups: dict[str, list[tuple[bool, float]]] = {}
    for row in dists:
        groups.setdefault(row[col], []).append((row[2], row[3]))
    rows = []
    for key in sorted(groups, key=_bucket_order):
        g = np.asarray([d for same, d in groups[key] if same])
        s = np.asarray([d for same, d in groups[key] if not same])
        per_10k = round(1e4 * float((s <= thr).mean()), 2) if len(s) else float("nan")
        rows.append(
            (name, kind, key, len(g), _q(g, 50), _q(g, 90), _share(g > thr), len(s), _q(s, 0.1), _q(s, 1), per_10k)
        )
    return rows


def _bucket_order(label: str) -> float:
    if label == "not detected":
        return -1.0
    return float(label.split("-")[0].rstrip("+").lstrip("<"))


def _q(x: np.ndarray, pct: float) -> float:
    return round(float(np.percentile(x, pct)), 3) if len(x) else float("nan")


def _share(mask: np.ndarray) -> float:
    return round(float(mask.mean()), 3) if len(mask) else float("nan")


# ---- worst cases -------------------------------------------------------------------------------------


def _thumb(rgb: np.ndarray, box, height: int = 112) -> str:
    from PIL import Image

    img = Image.fromarray(rgb)
    if box is not None:
        left, top, right, bottom = box
        m = 0.3 * max(right - left, bottom - top)
        img = img.crop((max(0, left - m), max(0, top - m), min(img.width, right + m), min(img.height, bottom + m)))
    img.thumbnail((height * 2, height))
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


class Pictures:
    def __init__(self, data: dict[str, SetData]):
        self.data = data
        self._rgb: dict[str, np.ndarray] = {}

    def rgb(self, set_name: str, key: str) -> np.ndarray:
        if key not in self._rgb:
            comp: Composite | None = (self.data[set_name].composites or {}).get(key)
            if comp is not None:
                self._rgb[key] = render(comp)
            else:
                from face_pipeline.lib.photos.decode import load_rgb

                self._rgb[key] = load_rgb(key, max_side=2400).rgb
        return self._rgb[key]

    def face(self, set_name: str, key: str, index: int | None) -> str:
        pf = self.data[set_name].faces.get(key)
        box = pf.boxes[index] if pf is not None and index is not None and index < len(pf.boxes) else None
        return _thumb(self.rgb(set_name, key), box)


def worst_cases(data: dict[str, SetData], emb, h: Harness, thr: float):
    """The farthest missed (query, relevant photo) pairs and the nearest strangers returned, per set."""
    lfw_faces = data["LFW"].faces
    missed, strangers = [], []
    for name in ("LFW", "synthetic"):
        sd = data.get(name)
        if sd is None:
            continue
        for a, identity, qkey in zip(sd.answers, sd.identities, sd.query_keys, strict=True):
            dist = dict(zip(a.ranked.ids, a.ranked.distances, strict=True))
            qv = h.query_vector(lfw_faces.get(qkey), emb.model_id)
            for photo in a.ranked.relevant:
                d = dist.get(photo, float("inf"))
                if d > thr:
                    lab = sd.labelled.get((identity, photo))
                    missed.append((name, identity, qkey, photo, lab.face if lab else None, d))
            for photo, d in zip(a.ranked.ids, a.ranked.distances, strict=True):
                if d <= thr and photo not in a.ranked.relevant:
                    pf = sd.faces.get(photo)
                    face = None
                    if pf is not None and len(qv) and len(pf.boxes):
                        face = int(np.argmin(distance(pf.vectors[emb.model_id], qv[0], emb.metric)))
                    who = ", ".join(sorted({i for (i, p) in sd.labelled if p == photo})) or "?"
                    strangers.append((name, identity, qkey, photo, face, d, who))
    missed.sort(key=lambda m: -m[5])
    strangers.sort(key=lambda s: s[5])
    return missed, strangers


def write_worst_html(path: Path, data, missed, strangers, thr: float, model_id: str) -> None:
    pics = Pictures(data)
    lfw = data["LFW"]

    def qthumb(qkey):
        pf = lfw.faces.get(qkey)
        return _thumb(pics.rgb("LFW", qkey), pf.boxes[pf.central_face()] if pf and pf.boxes else None)

    def card(kind, name, identity, qkey, photo, face, d, extra=""):
        dist = "not among the candidates" if d == float("inf") else f"distance {d:.3f}"
        return (
            "<tr>"
            f"<td><img src='{qthumb(qkey)}'><br>{html.escape(identity)}<br><small>{html.escape(Path(qkey).name)}</small></td>"
            f"<td><img src='{pics.face(name, photo, face)}'><br><small>{html.escape(Path(photo).name)}"
            f"{' (face not detected: whole tile area)' if face is None and kind == 'missed' else ''}</small>"
            f"{'<br>' + html.escape(extra) if extra else ''}</td>"
            f"<td>{html.escape(name)}</td><td>{dist}</td></tr>"
        )

    parts = [
        f"<!doctype html><meta charset='utf-8'><title>Worst cases at {thr:g} ({html.escape(model_id)})</title>",
        "<style>body{font-family:sans-serif}td{vertical-align:top;padding:4px 10px;border-bottom:1px solid #ddd}"
        "img{max-height:112px}</style>",
        f"<h1>Worst cases at the shipped threshold {thr:g} ({html.escape(model_id)})</h1>",
        "<p>Written by <code>python -m face_pipeline.evaluation</code> (section 'Right on photos nobody tuned "
        "for'). Reference face on the left, the photo's face on the right (for a stranger: the face of the "
        "photo nearest the reference). Distances are the search's (enrolment and query expansion).</p>",
        f"<h2>Missed: (reference, photo) pairs of one person beyond the threshold, farthest first "
        f"({min(WORST, len(missed))} of {len(missed)})</h2><table>",
    ]
    parts += [card("missed", *m) for m in missed[:WORST]]
    parts += [
        "</table>",
        f"<h2>Strangers returned within the threshold, nearest first "
        f"({min(WORST, len(strangers))} of {len(strangers)})</h2><table>",
    ]
    parts += [card("stranger", n, i, q, p, f, d, f"in the photo: {who}") for n, i, q, p, f, d, who in strangers[:WORST]]
    parts.append("</table>")
    path.write_text("\n".join(parts))


# ---- the section -------------------------------------------------------------------------------------


def quality_section(h: Harness) -> Section:
    """The section, ours only, on an emptied store: the sets' answers, then one table group after another."""
    emb = get_embedder(h.ours.embedder, h.folders)
    thr = h.ours.threshold_for(emb)
    det_model = detector_from_spec(h.ours.detector, h.folders).model_id
    grid = sweep_grid(emb.metric)
    sec = Section(
        f"Right on photos nobody tuned for: cross-validated threshold, face size, people ({h.ours.embedder})",
        __doc__.split("\n\n", 1)[1].strip(),
    )
    store = h.store()
    for event in store.serving_models():
        store.delete_event(event)
    data, people_rows = _sets_and_people(h, emb, det_model, thr, sec)
    _threshold_tables(sec, data, grid, thr, emb.model_id)
    _size_and_score_tables(sec, data, emb, h, thr)
    if people_rows:
        sec.table(
            (
                "set",
                "queries",
                "find P",
                "find R",
                "with person photos P",
                "with person photos R",
                "photos added: right",
                "photos added: wrong",
            ),
            people_rows,
            "**People-backed lookups** (`find` at the shipped threshold, then `with_person_photos`; the "
            "event grouped into people by update_people_for_event; scenes grouped alone):",
        )
    if "LFW" in data:
        _worst_case_tables(sec, data, emb, h, thr)
    for event in store.serving_models():
        store.delete_event(event)
    return sec


def _sets_and_people(
    h: Harness, emb, det_model: str, thr: float, sec: Section
) -> tuple[dict[str, SetData], list[tuple]]:
    """Ours' answers on each set and a people row for LFW and scenes, each event removed before the next is written."""
    data: dict[str, SetData] = {}
    people_rows = []
    if h.config.lfw:
        data["LFW"] = lfw_data(h, emb, det_model)
        ident = {str(p.path): p.identity for p in h.lfw_set().photos}
        lookups = [
            (
                q.path,
                frozenset(k for k, i in ident.items() if i == q.identity and k != str(q.path)),
                frozenset({str(q.path)}),
                [LFW_EVENT],
            )
            for q in h.lfw_queries()
        ]
        people_rows.append(_people_row(h, "LFW", LFW_EVENT, lookups))
        h.store().delete_event(LFW_EVENT)
        if h.config.synthetic > 0:
            data["synthetic"] = syn = synthetic_data(h, emb, det_model)
            p, r = M.retrieval_at([a.ranked for a in syn.answers], thr)
            sec.targets.append(
                target(
                    "synthetic event photos (2-6 faces of ~50-120 px): mean precision >= 0.96 and mean recall >= 0.96",
                    f"P {p:.3f}, R {r:.3f} at {thr:g}",
                    p >= 0.96 and r >= 0.96,
                )
            )
            h.store().delete_event(SYN_EVENT)
    if h.config.scenes:
        scenes, query_defs, scene_list = scenes_data(h, emb)
        data["scenes"] = scenes
        lookups = [
            (
                refs,
                frozenset(s.relpath for s in scene_list if identity in s.identities and s.relpath not in ex),
                ex,
                [SCENES_EVENT],
            )
            for _l, identity, refs, ex in query_defs
        ]
        people_rows.append(_people_row(h, "scenes", SCENES_EVENT, lookups))
    return data, people_rows


def _people_row(h: Harness, name: str, event: str, lookups) -> tuple:
    """Group the set's event into people, then what people-backed lookups add over plain `find` on it."""
    store = h.store()
    update_people_for_event(replace(h.config.settings, dsn=store.dsn), store, event)
    plain, withp, (right, wrong, n) = people_backed(h, lookups)
    return (name, n, *plain, *withp, right, wrong)


def _threshold_tables(sec: Section, data: dict[str, SetData], grid, thr: float, model_id: str) -> None:
    """1. the cross-validated threshold: the folds, the repeated splits, how P/R move around the cut."""
    by_set = {name: list(zip(d.identities, [a.ranked for a in d.answers], strict=True)) for name, d in data.items()}
    cv = CV.cross_validate(by_set, grid, k=K, seeds=SEEDS)
    people = len({i for d in data.values() for i in d.identities})
    _fold_table(sec, cv, by_set, thr, people)
    lo, hi, sd = cv.spread
    repeat_rows = [(seed + 1, ", ".join(f"{t:g}" for t in cv.thresholds(seed))) for seed in SEEDS]
    repeat_rows.append(("all", f"min {lo:g}, max {hi:g}, sd {sd:.4f}; median (the cut): **{cv.cut:g}**"))
    sec.table(
        ("split (seed)", "fold thresholds"),
        repeat_rows,
        f"The same over {len(SEEDS)} random splits into {K} folds ({len(cv.folds)} fold thresholds):",
    )
    _sensitivity_table(sec, by_set, grid, cv.cut, thr)
    verdict = (
        "the shipped threshold is the cross-validated cut"
        if abs(cv.cut - thr) < 1e-9
        else f"the cross-validated cut ({cv.cut:g}) differs from the shipped threshold ({thr:g})"
    )
    sec.notes.append(f"{model_id}: {verdict}.")


def _fold_table(sec: Section, cv, by_set: dict, thr: float, people: int) -> None:
    """Each fold of the first split, its threshold judged on its own held-out people, beside the shipped one."""
    sets = list(by_set)
    fold_rows = []
    for f in cv.folds:
        if f.seed != SEEDS[0]:
            continue
        cells = [
            f"{f.held_out[s][0]:.3f} / {f.held_out[s][1]:.3f} ({f.held_out[s][2]})" if s in f.held_out else ""
            for s in sets
        ]
        fold_rows.append((f.fold + 1, f"{f.threshold:g}", round(f.fit_score, 3), *cells))
    pooled = [f"{cv.pooled[s][0]:.3f} / {cv.pooled[s][1]:.3f} ({cv.pooled[s][2]})" for s in sets]
    shipped_all = [M.retrieval_at([q for _i, q in by_set[s]], thr) for s in sets]
    fold_rows.append(("all folds, each at its own threshold (held out)", "", "", *pooled))
    fold_rows.append(
        (
            f"for comparison: shipped {thr:g} on everyone (not held out)",
            "",
            "",
            *[f"{p:.3f} / {r:.3f}" for p, r in shipped_all],
        )
    )
    sec.table(
        (
            "fold (split 1)",
            "threshold chosen on the other folds",
            "its score there (mean min(P, R))",
            *[f"held out: {s} P / R (queries)" for s in sets],
        ),
        fold_rows,
        f"**Cross-validated threshold.** {K} identity folds ({people}"
        " people; one person's queries in every set share a fold); each fold's threshold chosen on the other "
        "folds, judged on its own people:",
    )


def _sensitivity_table(sec: Section, by_set: dict, grid, cut: float, thr: float) -> None:
    """P/R at and around the cut, with the worst fold of the first split: how sharp the choice is."""
    sets = list(by_set)
    sens_rows = []
    for t, res in CV.sensitivity(by_set, grid, cut):
        worst = []
        for s in sets:
            curves = CV.Curves.of(by_set[s], grid)
            fold_of = CV.assign_folds({i for qs in by_set.values() for i, _ in qs}, K, SEEDS[0])
            per_fold = [CV.at(curves, {i for i, n in fold_of.items() if n == f}, grid, t) for f in range(K)]
            worst.append(min(min(p, r) for p, r, n in per_fold if n))
        sens_rows.append(
            (
                f"{t:g}" + (" (cut)" if abs(t - cut) < 1e-9 else "") + (" (shipped)" if abs(t - thr) < 1e-9 else ""),
                *[f"{res[s][0]:.3f} / {res[s][1]:.3f}" for s in sets],
                *[round(w, 3) for w in worst],
            )
        )
    sec.table(
        ("threshold", *[f"{s} P / R" for s in sets], *[f"{s}: worst fold min(P, R)" for s in sets]),
        sens_rows,
        "Around the cut (every query; the worst fold of split 1 alongside):",
    )


def _size_and_score_tables(sec: Section, data: dict[str, SetData], emb, h: Harness, thr: float) -> None:
    """2. recall by face size, and the distance distributions by face width and detector score."""
    size_rows, dist_rows, aware_rows = [], [], []
    for name in ("LFW", "synthetic"):
        if name not in data:
            continue
        pairs = pair_rows(data[name], thr)
        groups: dict[str, list] = {}
        for row in pairs:
            groups.setdefault(row[1], []).append(row)
        for key in sorted(groups, key=_bucket_order):
            g = groups[key]
            d = np.asarray([x[4] for x in g])
            size_rows.append(
                (
                    name,
                    key,
                    len(g),
                    round(float(np.mean([x[3] for x in g])), 3),
                    _q(d[np.isfinite(d)], 50),
                    _q(d[np.isfinite(d)], 90),
                    int((~np.isfinite(d)).sum()),
                )
            )
        faces = face_level(data[name], emb, h)
        dists = face_distances(faces)
        dist_rows += distance_rows(name, "width", dists, thr, 0) + distance_rows(name, "score", dists, thr, 1)
        aware_rows += size_aware.rows(name, size_aware.cross_validate(faces, thr, k=K, seeds=SEEDS))
    sec.table(
        (
            "set",
            "face width (px)",
            "(query, photo) pairs",
            f"recall at {thr:g}",
            "median distance",
            "90th pct distance",
            "not among candidates",
        ),
        size_rows,
        "**Recall by face size** at the shipped threshold: every (query, relevant photo) pair, by the width of "
        "the person's face in that photo (as ours detected it; 'not detected': no face found in the "
        "person's tile); distances are the search's, one per photo:",
    )
    sec.table(
        (
            "set",
            "by",
            "bucket",
            "same-person faces",
            "median",
            "90th pct",
            f"share > {thr:g}",
            "other-person faces",
            "0.1th pct",
            "1st pct",
            f"per 10k <= {thr:g}",
        ),
        dist_rows,
        "**Distance distributions** (face level: each query's reference face against every labelled face, "
        "plain distance without enrolment or expansion; bystanders left out), by face width and detector score:",
    )
    sec.table(size_aware.HEADER, aware_rows, size_aware.INTRO.format(thr=thr, k=K, seeds=len(SEEDS)))


def _worst_case_tables(sec: Section, data: dict[str, SetData], emb, h: Harness, thr: float) -> None:
    """4. the worst cases at the shipped threshold, ten of each in the report and more, with thumbnails, in HTML."""
    missed, strangers = worst_cases(data, emb, h, thr)
    sec.table(
        ("kind", "set", "query", "photo", "distance"),
        [("missed", m[0], m[1], Path(m[3]).name, m[5]) for m in missed[:10]]
        + [("stranger", s[0], s[1], f"{Path(s[3]).name} ({s[6]})", s[5]) for s in strangers[:10]],
        f"**Worst cases** at {thr:g}: {len(missed)} missed (query, photo) pairs and {len(strangers)} strangers "
        "returned on LFW + synthetic; the 10 worst of each:",
    )
    if h.config.worst_html is not None:
        write_worst_html(h.config.worst_html, data, missed, strangers, thr, emb.model_id)
        sec.notes.append(f"thumbnails of the {WORST} worst of each: `{h.config.worst_html}` (self-contained HTML)")


def worst_html_path(out: Path) -> Path:
    return out.with_name(out.stem + "-worst-cases.html")
