"""The evaluation harness: the pipeline's own code on labelled data, recipes side by side.

What runs is what ships: faces come from `get_detector`/`find_faces`, vectors from the registered
embedders' `crop` + `embed`, and answers from pgvector through `VectorStore` and the search code of
`face_pipeline.lib.search` (scenes go the whole way: ingest, then `find_person` with reference
files). Every photo is decoded, detected and embedded once per detector in a run (a process pool
does the work), and every row that needs it reads the same cache.

Recipes compared in one run:
- article: the seed article's Haar cascade + CLIP (imgbeddings), where its weights are available;
- baseline: the face_recognition-style pipeline (HOG upsampling 1, ResNet, euclidean 0.6);
- ours: the shipped defaults (settings' detector and embedder, the embedder's threshold).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from face_pipeline.evaluation import metrics as M
from face_pipeline.evaluation.datasets import (
    BoxedPhoto,
    IdentitySet,
    LabelledPhoto,
    Scene,
    read_identity_folder,
    read_scene_labels,
    read_wider_folder,
    same_person,
)
from face_pipeline.evaluation.synthetic import Composite, plan_composites, render

Log = Callable[[str], None]

# Face sizes (longer box side, pixels) for the detection table; faces below the first edge are
# ignored: neither missed nor false alarms when a detector finds them.
SIZE_EDGES = (40, 60, 80, 120, 200)
DETECTION_IOU = 0.3
# Candidates per query (enough for the largest identity in the dev data, 12 photos, many times over).
CANDIDATES = 200


# ---- recipes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    key: str
    title: str
    detector: str  # registry name, or "name:arg=value,..." for a variant the harness builds
    embedder: str
    threshold: float | None = None  # None: the embedder's default_threshold
    enrol: str = "mean"
    expand: bool = False

    def threshold_for(self, embedder) -> float:
        return float(self.threshold if self.threshold is not None else embedder.default_threshold)


def default_recipes(detector: str, embedder: str) -> list[Recipe]:
    from face_pipeline.lib.search import DEFAULT_ENROL, DEFAULT_EXPAND

    return [
        Recipe("article", "article: Haar (sf 1.05, mn 2, min 100) + CLIP imgbeddings", "haar", "clip-imgbeddings",
               None, "min", False),
        Recipe("baseline", "face_recognition-style: HOG up1 + ResNet, L2 0.6", "dlib-hog:upsample=1",
               "dlib-resnet-v1", 0.6, "min", False),
        Recipe("ours", f"ours (shipped defaults): {detector} + {embedder}", detector, embedder,
               None, DEFAULT_ENROL, DEFAULT_EXPAND),
    ]


# ---- detectors by spec -----------------------------------------------------------------------


@cache
def detector_from_spec(spec: str):
    """A registered detector by name, or a variant `name:key=value,...` built with those arguments."""
    from face_pipeline.lib.models import DETECTORS, get_detector

    if ":" not in spec:
        return get_detector(spec)
    name, args = spec.split(":", 1)
    kwargs = {}
    for part in filter(None, args.split(",")):
        key, value = part.split("=", 1)
        kwargs[key.strip()] = float(value) if "." in value else int(value)
    return DETECTORS[name](**kwargs)


# ---- photo analysis (worker processes) -------------------------------------------------------


@dataclass(frozen=True)
class PhotoJob:
    key: str
    detector: str
    embedders: tuple[str, ...]
    path: str | None = None
    composite: Composite | None = None
    max_side: int = 2400
    known: tuple[tuple[str, tuple[tuple[str, np.ndarray], ...]], ...] = ()  # face key -> vectors by model


def face_key(box: Sequence[int], landmarks: np.ndarray | None) -> str:
    """Same box and landmarks = same aligned chip = same vector, whichever detector found it."""
    lm = "" if landmarks is None else ",".join(f"{v:.1f}" for v in np.asarray(landmarks).ravel())
    return f"{tuple(int(v) for v in box)}|{lm}"


@dataclass
class PhotoFaces:
    key: str
    boxes: list[tuple[int, int, int, int]]
    scores: list[float]
    vectors: dict[str, np.ndarray]  # model_id -> (faces, dim)
    face_keys: list[str] = field(default_factory=list)
    width: int = 0
    height: int = 0
    seconds_detect: float = 0.0
    seconds_embed: float = 0.0
    error: str | None = None

    def central_face(self) -> int | None:
        """The face nearest the photo's centre (LFW labels the central face of each crop)."""
        if not self.boxes:
            return None
        cx, cy = self.width / 2, self.height / 2
        return min(range(len(self.boxes)), key=lambda i: ((self.boxes[i][0] + self.boxes[i][2]) / 2 - cx) ** 2
                   + ((self.boxes[i][1] + self.boxes[i][3]) / 2 - cy) ** 2)


def analyse(job: PhotoJob) -> PhotoFaces:
    """Decode (or compose), detect, align, embed one photo with the library's own calls."""
    from face_pipeline.lib.images import PhotoRejected, load_rgb
    from face_pipeline.lib.models import find_faces, get_embedder

    try:
        rgb = render(job.composite) if job.composite is not None else load_rgb(job.path, max_side=job.max_side).rgb
    except (PhotoRejected, OSError) as exc:
        return PhotoFaces(job.key, [], [], {}, error=str(exc))
    t0 = time.perf_counter()
    faces = find_faces(rgb, detector_from_spec(job.detector))
    t1 = time.perf_counter()
    keys = [face_key(f.box, f.landmarks) for f in faces]
    known = {k: dict(v) for k, v in job.known}
    vectors: dict[str, np.ndarray] = {}
    # an embedder that also embeds the mirror image first: its views include the plain vectors
    for name in sorted(job.embedders, key=lambda n: not getattr(get_embedder(n), "mirror", False)):
        emb = get_embedder(name)
        if emb.model_id in vectors:
            continue
        todo = [i for i, k in enumerate(keys) if emb.model_id not in known.get(k, {})]
        fresh: dict[str, np.ndarray] = {}
        if todo:
            crops = [emb.crop(rgb, faces[i]) for i in todo]
            if getattr(emb, "mirror", False):
                fresh = emb.embed_views(crops)  # the plain vectors come with the flipped ones
            else:
                fresh = {emb.model_id: emb.embed(crops)}
        for mid, vecs in fresh.items():
            for i, v in zip(todo, vecs, strict=True):
                known.setdefault(keys[i], {})[mid] = v
        for mid in {emb.model_id, *fresh}:
            if all(mid in known.get(k, {}) for k in keys):
                vectors[mid] = np.asarray([known[k][mid] for k in keys], dtype=np.float32).reshape(len(keys), emb.dim)
    t2 = time.perf_counter()
    return PhotoFaces(job.key, [f.box for f in faces], [f.score for f in faces], vectors, keys,
                      rgb.shape[1], rgb.shape[0], t1 - t0, t2 - t1)


class FaceCache:
    """Analysed photos of this run, keyed by (photo, detector); optionally kept on disk between runs."""

    def __init__(self, workers: int, log: Log, disk: Path | None = None):
        self.workers = max(1, workers)
        self.log = log
        self.disk = disk
        self._mem: dict[tuple[str, str], PhotoFaces] = {}
        self._by_photo: dict[str, list[PhotoFaces]] = {}
        if disk:
            disk.mkdir(parents=True, exist_ok=True)

    def _disk_path(self, job: PhotoJob) -> Path | None:
        """One file per (photo, detector); it holds every vector computed for it so far."""
        if not self.disk:
            return None
        stamp = ""
        if job.path:
            st = os.stat(job.path)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        raw = f"{job.key}|{detector_from_spec(job.detector).model_id}|{stamp}|{job.composite!r}"
        return self.disk / (hashlib.sha256(raw.encode()).hexdigest()[:24] + ".pkl")

    def _remember(self, job: PhotoJob, faces: PhotoFaces) -> None:
        self._mem[(job.key, detector_from_spec(job.detector).model_id)] = faces
        self._by_photo.setdefault(job.key, []).append(faces)

    def get(self, jobs: Sequence[PhotoJob], label: str) -> dict[str, PhotoFaces]:
        from face_pipeline.lib.models import get_embedder

        out: dict[str, PhotoFaces] = {}
        todo: list[PhotoJob] = []
        for job in jobs:
            wanted = tuple(get_embedder(n).model_id for n in job.embedders)
            hit = self._mem.get((job.key, detector_from_spec(job.detector).model_id))
            dp = self._disk_path(job)
            if hit is None and dp and dp.is_file():
                hit = pickle.loads(dp.read_bytes())
                self._remember(job, hit)
            if hit is not None and all(m in hit.vectors for m in wanted):
                out[job.key] = hit
                continue
            todo.append(self._with_known(job))
        if todo:
            t0 = time.perf_counter()
            self.log(f"  {label}: analysing {len(todo)} photos with {todo[0].detector} on {self.workers} process(es)")
            results = self._run(todo)
            for job, res in zip(todo, results, strict=True):
                old = self._mem.get((job.key, detector_from_spec(job.detector).model_id))
                if old is not None and old.face_keys == res.face_keys:
                    res.vectors = {**old.vectors, **res.vectors}
                self._remember(job, res)
                out[job.key] = res
                dp = self._disk_path(job)
                if dp:
                    dp.write_bytes(pickle.dumps(res))
            self.log(f"  {label}: {len(todo)} photos in {time.perf_counter() - t0:.0f} s")
        return out

    def _with_known(self, job: PhotoJob) -> PhotoJob:
        known: dict[str, dict[str, np.ndarray]] = {}
        for pf in self._by_photo.get(job.key, []):
            for i, fk in enumerate(pf.face_keys):
                for mid, vecs in pf.vectors.items():
                    known.setdefault(fk, {})[mid] = vecs[i]
        if not known:
            return job
        return replace(job, known=tuple((k, tuple(v.items())) for k, v in known.items()))

    def _run(self, jobs: list[PhotoJob]) -> list[PhotoFaces]:
        if self.workers == 1 or len(jobs) < 4:
            return [analyse(j) for j in jobs]
        with ProcessPoolExecutor(self.workers, mp_context=get_context("forkserver")) as pool:
            return list(pool.map(analyse, jobs, chunksize=max(1, min(16, len(jobs) // (8 * self.workers)))))


# ---- the vector store ------------------------------------------------------------------------


def write_event(store, event: str, detector_model: str, model_id: str, photos: dict[str, PhotoFaces]) -> dict[str, str]:
    """Store analysed photos as one event (photo key -> photo_id), as ingest would write them."""
    from face_pipeline.lib.store import EventWrite, FaceRow, PhotoRow, face_id_for

    photo_rows, face_rows, vectors, ids = [], [], [], {}
    for key, pf in sorted(photos.items()):
        pid = hashlib.sha256(key.encode()).hexdigest()[:32]
        ids[key] = pid
        vecs = pf.vectors.get(model_id, np.zeros((0, 1)))
        photo_rows.append(PhotoRow(pid, key, 0, pf.width, pf.height, None, len(pf.boxes)))
        for i, box in enumerate(pf.boxes):
            fid = face_id_for(event, pid, detector_model, i)
            face_rows.append(FaceRow(fid, pid, i, tuple(int(v) for v in box), float(pf.scores[i]), [0.0] * 10, ""))
            vectors.append(vecs[i])
    dim = len(vectors[0]) if vectors else 1
    store.replace_event(EventWrite(event, detector_model, model_id, photo_rows, face_rows,
                                   np.asarray(vectors, dtype=np.float32).reshape(len(face_rows), dim)))
    return ids


@dataclass
class QueryAnswer:
    query: str
    ranked: M.RankedQuery


def run_queries(store, event: str, embedder, queries: Sequence[tuple[str, np.ndarray, frozenset, frozenset]],
                *, enrol: str, expand: bool) -> list[QueryAnswer]:
    """Each query (name, reference vectors, relevant photo paths, excluded photo paths) against one
    event through pgvector, collapsed to one distance per photo (its best face)."""
    from face_pipeline.lib.search import collapse_to_photos, nearest_faces

    out = []
    for name, vectors, relevant, excluded in queries:
        if len(vectors) == 0:
            out.append(QueryAnswer(name, M.RankedQuery((), (), relevant)))
            continue
        by_face = nearest_faces(store, vectors, embedder, embedder.model_id, events=[event], limit=CANDIDATES,
                                enrol=enrol, expand=expand, exclude_paths=excluded)
        photos = collapse_to_photos(list(by_face.values()), embedder, float("inf"))
        kept = [p for p in photos if p.path not in excluded]
        out.append(QueryAnswer(name, M.RankedQuery(tuple(p.path for p in kept), tuple(p.distance for p in kept),
                                                   relevant)))
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
    note: str = ""


def retrieval_row(label: str, answers: list[QueryAnswer], threshold: float, sweep_from: float, sweep_to: float,
                  note: str = "") -> RetrievalRow:
    ranked = [a.ranked for a in answers]
    p, r = M.retrieval_at(ranked, threshold)
    mean_ap = M.mean_average_precision((q.ranked(), q.relevant) for q in ranked)
    curve = M.sweep(ranked, np.round(np.arange(sweep_from, sweep_to + 1e-9, 0.01), 3))
    empty = sum(1 for q in ranked if not q.answer(threshold))
    return RetrievalRow(label, threshold, p, r, mean_ap, len(ranked), empty, M.choose_threshold(curve), note)


# ---- the run ---------------------------------------------------------------------------------


@dataclass
class HarnessConfig:
    lfw: Path | None
    wider: Path | None
    scenes: Path | None
    out: Path | None
    quick: bool = False
    workers: int = 0
    cache_dir: Path | None = None
    detector: str = "dlib-hog"
    embedder: str = "dlib-resnet-v1"
    synthetic: int = 120
    dsn: str = ""
    compare_flip: bool = False
    extra_detectors: tuple[str, ...] = ("dlib-hog:upsample=0",)


@dataclass
class Report:
    config: HarnessConfig
    started: datetime
    seconds: float = 0.0
    sections: list[tuple[str, str]] = field(default_factory=list)  # (title, markdown)
    targets: list[tuple[str, str, str]] = field(default_factory=list)  # (target, measured, met?)
    notes: list[str] = field(default_factory=list)

    def add(self, title: str, markdown: str) -> None:
        self.sections.append((title, markdown))


class Harness:
    def __init__(self, config: HarnessConfig, log: Log | None = None):
        self.config = config
        self.log = log or (lambda s: print(s, file=sys.stderr, flush=True))
        workers = config.workers or (os.cpu_count() or 1)
        self.cache = FaceCache(workers, self.log, config.cache_dir)
        self.recipes = default_recipes(config.detector, config.embedder)
        self.report = Report(config, datetime.now(UTC))
        self._tmp = Path(tempfile.mkdtemp(prefix="face_pipeline_eval_"))
        self._store = None
        self._lfw: IdentitySet | None = None
        self.ours_threshold_found: float | None = None

    # -- helpers --
    def runnable(self) -> list[Recipe]:
        """Recipes whose models load here; the others are reported with the reason."""
        from face_pipeline.lib.models import get_embedder

        out = []
        for r in self.recipes:
            try:
                get_embedder(r.embedder)
                detector_from_spec(r.detector)
            except Exception as exc:  # a model that can not load here is reported, not fatal
                note = f"**{r.title}: not run.** {type(exc).__name__}: {exc}"
                if note not in self.report.notes:
                    self.report.notes.append(note)
                continue
            out.append(r)
        return out

    def store(self):
        if self._store is None:
            from face_pipeline.lib import embedded_postgres
            from face_pipeline.lib.store import VectorStore

            dsn = self.config.dsn
            if not dsn:
                server = embedded_postgres.start(self._tmp / "pg")
                dsn = embedded_postgres.app_dsn(server)
            self._store = VectorStore(dsn)
            self._store.migrate()
        return self._store

    def close(self) -> None:
        if self._store is not None and not self.config.dsn:
            from face_pipeline.lib import embedded_postgres

            embedded_postgres.stop(self._tmp / "pg")
        shutil.rmtree(self._tmp, ignore_errors=True)

    def embedders_for(self, recipe: Recipe) -> tuple[str, ...]:
        twin = self.twin_of(recipe)
        return (recipe.embedder, twin) if twin else (recipe.embedder,)

    def twin_of(self, recipe: Recipe) -> str | None:
        """With --compare-flip: the other dlib ResNet variant, measured on ours' faces as an extra row."""
        twins = {"dlib-resnet-v1": "dlib-resnet-v1-flip", "dlib-resnet-v1-flip": "dlib-resnet-v1"}
        if self.config.compare_flip and recipe.key == "ours":
            return twins.get(recipe.embedder)
        return None

    # -- LFW --
    def lfw_set(self) -> IdentitySet:
        if self._lfw is None:
            ds = read_identity_folder(self.config.lfw)
            if self.config.quick:
                counts = ds.counts()
                many = sorted(i for i, c in counts.items() if c >= 4)[::4]
                few = sorted(i for i, c in counts.items() if c < 4)[::4]
                keep = set(many) | set(few)
                ds = IdentitySet(ds.root, [p for p in ds.photos if p.identity in keep],
                                 [pr for pr in ds.pairs])
                paths = {p.path for p in ds.photos}
                ds.pairs = [pr for pr in ds.pairs if pr.a in paths and pr.b in paths]
            self._lfw = ds
        return self._lfw

    def lfw_faces(self, recipe: Recipe) -> dict[str, PhotoFaces]:
        ds = self.lfw_set()
        jobs = [PhotoJob(str(p.path), recipe.detector, self.embedders_for(recipe), path=str(p.path))
                for p in ds.photos]
        return self.cache.get(jobs, f"LFW [{recipe.key}]")

    def lfw_queries(self) -> list[LabelledPhoto]:
        """The first photo (by name) of every identity with at least 4 photos."""
        out = []
        for _identity, photos in sorted(self.lfw_set().by_identity().items()):
            if len(photos) >= 4:
                out.append(photos[0])
        return out

    def query_vector(self, pf: PhotoFaces | None, model_id: str) -> np.ndarray:
        if pf is None:
            return np.zeros((0, 1), dtype=np.float32)
        i = pf.central_face()
        if i is None:
            return np.zeros((0, 1), dtype=np.float32)
        return pf.vectors[model_id][i : i + 1]


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{digits}f}"


def machine_description() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import dlib

        dlib_v = dlib.__version__
    except Exception:  # pragma: no cover
        dlib_v = "?"
    return (f"{platform.node() or 'host'}: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"dlib {dlib_v}, {platform.system()} {platform.release()}")


def as_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


# ---- sections ----------------------------------------------------------------------------------


def detection_section(h: Harness) -> None:
    photos: list[BoxedPhoto] = read_wider_folder(h.config.wider)
    if h.config.quick:
        photos = photos[::4]
    ours = next(r for r in h.recipes if r.key == "ours")
    specs: list[tuple[str, str]] = [("article: haar", "haar")]
    specs += [(f"{s}", s) for s in h.config.extra_detectors]
    specs += [("baseline: HOG up1", "dlib-hog:upsample=1"), (f"ours: {ours.detector}", ours.detector)]
    rows, bucket_rows = [], []
    labels = [M.size_bucket(e, SIZE_EDGES) for e in SIZE_EDGES]
    for label, spec in specs:
        jobs = [PhotoJob(str(p.path), spec, (), path=str(p.path)) for p in photos]
        found = h.cache.get(jobs, f"WIDER [{spec}]")
        hits = fa = 0
        per_bucket = {b: [0, 0] for b in labels}
        secs = []
        for p in photos:
            pf = found[str(p.path)]
            truth = [f.box for f in p.faces]
            ignore = [f.invalid or f.size < SIZE_EDGES[0] for f in p.faces]
            m = M.match_detections(list(zip(pf.boxes, pf.scores, strict=True)), truth, ignore, DETECTION_IOU)
            hits += m.hits
            fa += m.false_alarms
            secs.append(pf.seconds_detect)
            for face, ok, ign in zip(p.faces, m.found, ignore, strict=True):
                if ign:
                    continue
                b = M.size_bucket(face.size, SIZE_EDGES)
                per_bucket[b][0] += 1
                per_bucket[b][1] += int(ok)
        total = sum(v[0] for v in per_bucket.values())
        recall = hits / total if total else float("nan")
        precision = hits / (hits + fa) if hits + fa else float("nan")
        rows.append((label, total, hits, fa, _fmt(recall), _fmt(precision), f"{1000 * np.mean(secs):.0f}"))
        bucket_rows.append((label, *[f"{_fmt(v[1] / v[0] if v[0] else float('nan'), 2)} ({v[0]})"
                                     for v in per_bucket.values()]))
        if spec == ours.detector:
            h.report.targets.append((
                f"detection recall >= 0.85 at precision >= 0.95, faces >= {SIZE_EDGES[0]} px (WIDER)",
                f"recall {_fmt(recall)}, precision {_fmt(precision)}",
                "met" if recall >= 0.85 and precision >= 0.95 else "missed",
            ))
    text = (f"{len(photos)} photos, faces with longer side >= {SIZE_EDGES[0]} px and not marked invalid count; "
            f"a hit is IoU >= {DETECTION_IOU} (greedy, highest score first); detections on smaller faces are "
            "ignored. Time: detection + landmarks per photo, one process (the pool runs several at once).\n\n")
    text += as_table(("detector", "faces", "hits", "false alarms", "recall", "precision", "ms/photo"), rows)
    text += "\n\nRecall by face size (longer box side, px; faces in the bucket in brackets):\n\n"
    text += as_table(("detector", *labels), bucket_rows)
    h.report.add("Detection: WIDER FACE event photos", text)


def lfw_section(h: Harness) -> None:
    from face_pipeline.lib.models import get_embedder

    ds = h.lfw_set()
    queries = h.lfw_queries()
    ident = {str(p.path): p.identity for p in ds.photos}
    rows: list[RetrievalRow] = []
    pair_rows = []
    for recipe in reversed(h.runnable()):  # ours first: the baseline reuses the vectors of faces both find
        h.lfw_faces(recipe)
    enrol_rows: list[RetrievalRow] = []
    calibration: tuple[str, str] | None = None
    for recipe in h.runnable():
        emb = get_embedder(recipe.embedder)
        det_model = detector_from_spec(recipe.detector).model_id
        faces = h.lfw_faces(recipe)
        event = f"eval-lfw-{recipe.key}"
        store = h.store()
        write_event(store, event, det_model, emb.model_id, faces)
        thr = recipe.threshold_for(emb)
        qs = []
        for q in queries:
            key = str(q.path)
            relevant = frozenset(k for k, i in ident.items() if i == q.identity and k != key)
            qs.append((q.identity, h.query_vector(faces.get(key), emb.model_id), relevant, frozenset({key})))
        lo, hi = (0.3, 0.8) if emb.metric == "l2" else (0.02, 0.4)
        answers = run_queries(store, event, emb, qs, enrol=recipe.enrol, expand=recipe.expand)
        row = retrieval_row(recipe.title, answers, thr, lo, hi)
        rows.append(row)
        if recipe.key == "ours":
            h.ours_threshold_found = row.best[0] if row.best else None
            h.report.targets.append((
                "LFW retrieval: mean precision >= 0.95 and mean recall >= 0.95",
                f"P {_fmt(row.precision)}, R {_fmt(row.recall)} at {thr:g}",
                "met" if row.precision >= 0.95 and row.recall >= 0.95 else "missed",
            ))
            rows.append(held_out_row(answers, lo, hi))
            other = not recipe.expand
            answers_x = run_queries(store, event, emb, qs, enrol=recipe.enrol, expand=other)
            rows.append(retrieval_row(f"ours, query expansion {'on' if other else 'off'}", answers_x, thr, lo, hi))
            calibration = calibration_section(h, emb, answers)
            twin = h.twin_of(recipe)
            if twin:
                rows.append(twin_row(h, recipe, twin, faces, qs, lo, hi))
            enrol_rows = enrolment_rows(h, recipe, emb, faces, event, thr, lo, hi)
            h._lfw_ours = (recipe, emb, faces)
        # pairs
        if ds.pairs:
            d, same = [], []
            for pr in ds.pairs:
                va = h.query_vector(faces.get(str(pr.a)), emb.model_id)
                vb = h.query_vector(faces.get(str(pr.b)), emb.model_id)
                if len(va) and len(vb):
                    from face_pipeline.lib.models import distance

                    d.append(float(distance(va, vb[0], emb.metric)[0]))
                else:
                    d.append(float("inf"))
                same.append(pr.same)
            ps = M.pair_accuracy(d, same, thr)
            pair_rows.append((recipe.title, ps.pairs, f"{100 * ps.accuracy:.2f} %", _fmt(ps.true_accept_rate),
                              _fmt(ps.false_accept_rate), f"{thr:g}"))
    n_gallery = len(ds.photos) - 1
    text = (f"{len(queries)} queries (first photo of each identity with >= 4 photos); each searches the other "
            f"{n_gallery} photos (event of all LFW photos in pgvector, query photo excluded). Photo level: a photo "
            "answers with its best face. Precision of an empty answer counts 0. 'best' is the threshold that "
            "maximises min(P, R) on this data (for reference; not used by the row).\n\n")
    text += retrieval_table(rows)
    if enrol_rows:
        text += ("\n\n**Enrolment from several references** (identities with >= 6 photos; the first 3 are the "
                 "references, the other photos of everyone are the gallery; all rows on that same gallery):\n\n")
        text += retrieval_table(enrol_rows)
    h.report.add("Retrieval: LFW identities (photo level)", text)
    if pair_rows:
        h.report.add(
            "Pair verification: official LFW pairs inside the subset",
            f"{len(ds.pairs)} pairs of pairs.txt whose two photos are both present (central face of each).\n\n"
            + as_table(("recipe", "pairs", "accuracy", "TAR", "FAR", "threshold"), pair_rows),
        )
    if calibration:
        h.report.add(*calibration)


def twin_row(h: Harness, recipe: Recipe, twin: str, faces: dict[str, PhotoFaces], qs, lo: float,
             hi: float) -> RetrievalRow:
    """Ours with the other dlib ResNet variant (flip TTA or not): same faces and search, its own threshold."""
    from face_pipeline.lib.models import get_embedder

    plain = get_embedder(twin)
    store = h.store()
    event = "eval-lfw-ours-twin"
    write_event(store, event, detector_from_spec(recipe.detector).model_id, plain.model_id, faces)
    pq = [(name, h.query_vector(faces.get(next(iter(excl))), plain.model_id), rel, excl) for name, _v, rel, excl in qs]
    answers = run_queries(store, event, plain, pq, enrol=recipe.enrol, expand=recipe.expand)
    return retrieval_row(f"ours with {plain.model_id} instead (its threshold)", answers,
                         plain.default_threshold, lo, hi)


def held_out_row(answers: list[QueryAnswer], lo: float, hi: float) -> RetrievalRow:
    """Two-fold check that the threshold is not fitted to the queries it is judged on: choose it on
    every other identity, judge it on the rest, and the other way round (means of both halves)."""
    grid = np.round(np.arange(lo, hi + 1e-9, 0.01), 3)
    halves = [answers[0::2], answers[1::2]]
    ps, rs, ts = [], [], []
    for fit, judge in ((halves[0], halves[1]), (halves[1], halves[0])):
        t = M.choose_threshold(M.sweep([a.ranked for a in fit], grid))[0]
        p, r = M.retrieval_at([a.ranked for a in judge], t)
        ps.append(p * len(judge))
        rs.append(r * len(judge))
        ts.append(t)
    n = len(answers)
    row = RetrievalRow(f"ours, threshold chosen on the other half of the identities ({ts[0]:g} / {ts[1]:g})",
                       float("nan"), sum(ps) / n, sum(rs) / n, float("nan"), n, 0)
    return row


def retrieval_table(rows: Sequence[RetrievalRow]) -> str:
    return as_table(
        ("recipe", "threshold", "mean precision", "mean recall", "mAP", "queries", "empty answers", "best (t, P, R)"),
        [(r.label, _fmt(r.threshold, 2), _fmt(r.precision), _fmt(r.recall), _fmt(r.mean_ap), r.queries,
          r.empty_answers, f"{r.best[0]:g}, {_fmt(r.best[1])}, {_fmt(r.best[2])}" if r.best else "") for r in rows],
    )


def enrolment_rows(h: Harness, recipe: Recipe, emb, faces, event: str, thr: float, lo: float, hi: float):
    ds = h.lfw_set()
    groups = {i: ps for i, ps in ds.by_identity().items() if len(ps) >= 6}
    refs = {i: [str(p.path) for p in ps[:3]] for i, ps in groups.items()}
    excluded = frozenset(k for r in refs.values() for k in r)
    ident = {str(p.path): p.identity for p in ds.photos}
    store = h.store()

    def queries(n: int):
        out = []
        for identity, paths in sorted(refs.items()):
            vecs = [h.query_vector(faces.get(k), emb.model_id) for k in paths[:n]]
            vecs = [v for v in vecs if len(v)]
            stack = np.concatenate(vecs) if vecs else np.zeros((0, emb.dim), dtype=np.float32)
            relevant = frozenset(k for k, i in ident.items() if i == identity and k not in excluded)
            out.append((identity, stack, relevant, excluded))
        return out

    rows = []
    for n, enrol, expand in ((1, "mean", False), (1, "mean", True), (3, "min", False), (3, "centroid", False),
                             (3, "mean", False), (3, "mean", True)):
        answers = run_queries(store, event, emb, queries(n), enrol=enrol, expand=expand)
        label = f"{n} reference{'s' if n > 1 else ''}" + (f", {enrol}" if n > 1 else "") + (", expansion" if expand else "")
        rows.append(retrieval_row(label, answers, thr, lo, hi))
    return rows


def calibration_section(h: Harness, emb, answers: list[QueryAnswer]) -> tuple[str, str]:
    """How well `confidence(distance)` matches the observed share of right answers among the
    candidates a lookup returns (the nearest CANDIDATES photos of each query)."""
    d, y = [], []
    for a in answers:
        for pid, dist in zip(a.ranked.ids, a.ranked.distances, strict=True):
            d.append(dist)
            y.append(pid in a.ranked.relevant)
    d_arr, y_arr = np.asarray(d), np.asarray(y)
    shipped = np.asarray([emb.confidence(x) for x in d_arr])
    text = f"{len(d)} (query, photo) candidates, {int(y_arr.sum())} of them right.\n\n"
    rows = []
    cal = M.calibration(shipped, y_arr)
    rows.append((f"shipped {emb.model_id}.confidence", _fmt(cal.brier, 4), _fmt(cal.expected_calibration_error, 4)))
    try:
        mid, scale = M.fit_logistic(d_arr, y_arr)
        fitted = M.logistic(d_arr, mid, scale)
        calf = M.calibration(fitted, y_arr)
        rows.append((f"fitted here: midpoint {mid:.3f}, scale {scale:.4f}", _fmt(calf.brier, 4),
                     _fmt(calf.expected_calibration_error, 4)))
    except ValueError as exc:
        rows.append((f"fit failed: {exc}", "", ""))
    text += as_table(("confidence", "Brier", "ECE"), rows)
    text += "\n\nReliability of the shipped confidence (bin, mean confidence, observed rate, candidates):\n\n"
    text += as_table(("bin", "confidence", "observed", "n"),
                     [(f"{b[0]:.1f}", _fmt(b[1]), _fmt(b[2]), b[3]) for b in cal.bins])
    return "Confidence calibration (LFW candidates, ours)", text


def synthetic_section(h: Harness) -> None:
    from face_pipeline.lib.models import get_embedder

    ds = h.lfw_set()
    queries = h.lfw_queries()
    qpaths = {q.path for q in queries}
    pool = [p for p in ds.photos if p.path not in qpaths]
    count = max(10, h.config.synthetic // (4 if h.config.quick else 1))
    comps = plan_composites(pool, count=count, seed=0)
    rows = []
    n_faces = sum(len(c.tiles) for c in comps)
    analysed = {}
    for recipe in reversed(h.runnable()):  # ours first: the baseline reuses the vectors of faces both find
        jobs = [PhotoJob(c.name, recipe.detector, h.embedders_for(recipe), composite=c) for c in comps]
        analysed[recipe.key] = h.cache.get(jobs, f"synthetic [{recipe.key}]")
    for recipe in h.runnable():
        emb = get_embedder(recipe.embedder)
        det_model = detector_from_spec(recipe.detector).model_id
        lfw_faces = h.lfw_faces(recipe)
        faces = analysed[recipe.key]
        event = f"eval-synthetic-{recipe.key}"
        store = h.store()
        write_event(store, event, det_model, emb.model_id, faces)
        qs = []
        for q in queries:
            relevant = frozenset(c.name for c in comps if q.identity in c.identities)
            if not relevant:
                continue
            qs.append((q.identity, h.query_vector(lfw_faces.get(str(q.path)), emb.model_id), relevant, frozenset()))
        answers = run_queries(store, event, emb, qs, enrol=recipe.enrol, expand=recipe.expand)
        lo, hi = (0.3, 0.8) if emb.metric == "l2" else (0.02, 0.4)
        row = retrieval_row(recipe.title, answers, recipe.threshold_for(emb), lo, hi)
        found = sum(len(f.boxes) for f in faces.values())
        row.note = f"{found} faces found"
        rows.append(row)
    text = (f"{len(comps)} canvases of 1024x768, each with 2-6 LFW photos (120-250 px, so faces of ~50-120 px) "
            f"on a flat background: {n_faces} labelled faces (plus the bystanders inside the crops). Queries: the "
            "LFW query photos of the identities on some canvas; relevant: the canvases showing them.\n\n")
    text += retrieval_table(rows)
    text += "\n\n" + ", ".join(f"{r.label}: {r.note}" for r in rows)
    h.report.add("Retrieval: synthetic event photos (many faces per photo)", text)


def scenes_section(h: Harness) -> None:
    """Real ingest into pgvector and `find_person` with reference files, on labelled scenes."""
    from face_pipeline.lib.ingest import build_event_write, detect_faces, embed_faces, scan_event
    from face_pipeline.lib.search import find_person
    from face_pipeline.lib.settings import Settings

    scenes: list[Scene] = read_scene_labels(h.config.scenes)
    root = h._tmp / "scenes_photos"
    for s in scenes:
        target = root / "scenes" / s.relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            shutil.copy2(s.path, target)
    by_id: dict[str, list[Scene]] = {}
    for s in scenes:
        for i in s.identities:
            by_id.setdefault(i, []).append(s)
    # references: the first single-person photo of each identity with >= 2 scene photos
    query_defs: list[tuple[str, str, list[Path], frozenset[str]]] = []  # (label, identity, refs, excluded)
    for identity, ss in sorted(by_id.items()):
        singles = [s for s in sorted(ss, key=lambda s: s.relpath) if s.identities == {identity} and s.people_visible == 1]
        if len(ss) >= 2 and singles:
            ref = singles[0]
            query_defs.append((f"{identity} (scene photo)", identity, [ref.path], frozenset({ref.relpath})))
    if h.config.lfw:
        for identity, photos in sorted(h.lfw_set().by_identity().items()):
            labels = [i for i in by_id if same_person(identity, i)]
            if labels:
                query_defs.append((f"{labels[0]} (LFW {identity}, {min(3, len(photos))} ref)", labels[0],
                                   [p.path for p in photos[:3]], frozenset()))
    rows, found_rows = [], []
    multi = [s for s in scenes if len(s.identities) >= 2]
    for recipe in h.runnable():
        if ":" in recipe.detector:
            det_name = "dlib-hog"
        else:
            det_name = recipe.detector
        settings = Settings.from_env(photos_root=root, data_dir=h._tmp / f"scenes_data_{recipe.key}",
                                     dsn=h.store().dsn, detector=det_name, embedder=recipe.embedder,
                                     workers=h.cache.workers)
        event = "scenes"
        store = h.store()
        store.delete_event(event)
        t0 = time.perf_counter()
        manifest = scan_event(settings, event)
        face_set = detect_faces(settings, manifest)
        emb_set = embed_faces(settings, face_set)
        store.replace_event(build_event_write(manifest, face_set, emb_set))
        ingest_s = time.perf_counter() - t0
        ranked = []
        found: dict[tuple[str, str], bool] = {}
        for label, identity, refs, excluded in query_defs:
            try:
                res = find_person(settings, store, refs, k=50, threshold=recipe.threshold, events=[event],
                                  enrol=recipe.enrol, expand=recipe.expand)
                got = [m.path for m in res.matches if m.path not in excluded]
                got_d = [m.distance for m in res.matches if m.path not in excluded]
            except Exception as exc:  # a reference without a usable face is a failed query, not a crash
                h.report.notes.append(f"scenes [{recipe.key}] {label}: {type(exc).__name__}: {exc}")
                got, got_d = [], []
            relevant = frozenset(s.relpath for s in by_id[identity] if s.relpath not in excluded)
            ranked.append((label, got, relevant))
            for s in multi:
                if identity in s.identities:
                    key = (s.relpath, identity)
                    found[key] = found.get(key, False) or s.relpath in got
            del got_d
        ps = [M.precision_recall(g, r) for _, g, r in ranked]
        mp = float(np.mean([p for p, _ in ps])) if ps else float("nan")
        mr = float(np.mean([r for _, r in ps])) if ps else float("nan")
        n_found = sum(found.values())
        rows.append((recipe.title, len(ranked), _fmt(mp), _fmt(mr), f"{n_found}/{len(found)}", f"{ingest_s:.0f} s"))
        found_rows.append((recipe.title, ", ".join(f"{Path(p).name}:{i} {'yes' if ok else '**no**'}"
                                                  for (p, i), ok in sorted(found.items()))))
        if recipe.key == "ours":
            h.report.targets.append(("every labelled person found in the real multi-person scenes",
                                     f"{n_found}/{len(found)} (scene, person) found", "met" if n_found == len(found)
                                     else "missed"))
            per_query = as_table(("query", "returned", "precision", "recall"),
                                 [(lab, len(g), _fmt(p), _fmt(r)) for (lab, g, _), (p, r) in zip(ranked, ps, strict=True)])
    text = (f"{len(scenes)} photos ingested as one event with the library's ingest (scan, detect, embed, one "
            f"pgvector transaction), then `find_person` with reference files; {len(query_defs)} queries: the "
            "first single-person photo of each identity with >= 2 scene photos (excluded from its own answer) and "
            "up to 3 LFW photos of the people who also appear in the scenes.\n\n")
    text += as_table(("recipe", "queries", "mean precision", "mean recall", "multi-person (scene, person) found",
                      "ingest"), rows)
    text += "\n\nMulti-person scenes, person by person:\n\n" + as_table(("recipe", "found"), found_rows)
    if "per_query" in locals():
        text += "\n\nOurs, per query:\n\n" + per_query
    h.report.add("Photo level on real multi-person scenes (celeb_scenes_dev)", text)


def timing_section(h: Harness) -> None:
    """Time per photo, end to end (decode, detect, landmarks, crop, embed), each recipe on the same
    photos one after the other in this process, so the figures compare (the cache is not used)."""
    from face_pipeline.lib.images import load_rgb
    from face_pipeline.lib.models import find_faces, get_embedder

    if h.config.wider:
        paths = [p.path for p in read_wider_folder(h.config.wider)][:: 34 if h.config.quick else 17]
        what = "WIDER event photos (1024 px wide)"
    elif h.config.lfw:
        paths = [p.path for p in h.lfw_set().photos][:: 400 if h.config.quick else 100]
        what = "LFW photos (250 px)"
    else:
        return
    rows = []
    for recipe in h.runnable():
        det = detector_from_spec(recipe.detector)
        emb = get_embedder(recipe.embedder)
        secs = [0.0, 0.0, 0.0]
        faces_n = 0
        for path in paths:
            t0 = time.perf_counter()
            rgb = load_rgb(path).rgb
            t1 = time.perf_counter()
            faces = find_faces(rgb, det)
            t2 = time.perf_counter()
            emb.embed([emb.crop(rgb, f) for f in faces])
            t3 = time.perf_counter()
            secs = [secs[0] + t1 - t0, secs[1] + t2 - t1, secs[2] + t3 - t2]
            faces_n += len(faces)
        n = len(paths)
        rows.append((recipe.title, f"{1000 * sum(secs) / n:.0f}", f"{1000 * secs[1] / n:.0f}",
                     f"{1000 * secs[2] / n:.0f}", f"{faces_n / n:.1f}",
                     f"{1000 * secs[2] / faces_n:.0f}" if faces_n else "n/a"))
    h.report.add(
        "Time per photo",
        f"{len(paths)} {what}, one process, recipes one after the other on the same photos (the machine "
        "is shared: compare rows, not runs).\n\n"
        + as_table(("recipe", "ms/photo", "detect + landmarks", "crop + embed", "faces/photo", "ms/face embed"), rows),
    )


def run(config: HarnessConfig, argv: Sequence[str] = ()) -> Report:
    h = Harness(config)
    t0 = time.perf_counter()
    try:
        h.runnable()
        sections: list[tuple[str, Callable[[Harness], None], bool]] = [
            ("WIDER detection", detection_section, config.wider is not None),
            ("LFW retrieval and pairs", lfw_section, config.lfw is not None),
            ("synthetic event photos", synthetic_section, config.lfw is not None and config.synthetic > 0),
            ("real scenes", scenes_section, config.scenes is not None),
        ]
        for name, fn, enabled in sections:
            if not enabled:
                h.report.notes.append(f"{name}: skipped (no data folder given or found)")
                continue
            h.log(f"{name} ...")
            s0 = time.perf_counter()
            fn(h)
            h.log(f"{name}: {time.perf_counter() - s0:.0f} s")
        timing_section(h)
    finally:
        h.close()
    h.report.seconds = time.perf_counter() - t0
    h.report.notes.insert(0, "command: `python -m face_pipeline.evaluation " + " ".join(argv) + "`")
    return h.report


# A report section under this heading is written by people; the harness carries it over unchanged.
DISCUSSION_HEADING = "## Discussion"


def to_markdown(report: Report, keep_from: str = "") -> str:
    """The report; the discussion section of `keep_from` (the previous report) is kept as it was."""
    c = report.config
    lines = [
        "# Evaluation of face search",
        "",
        f"Generated by `face_pipeline.evaluation` on {report.started:%Y-%m-%d %H:%M} UTC in "
        f"{report.seconds / 60:.1f} min{' (--quick: subsets)' if c.quick else ''}.",
        f"Machine: {machine_description()}.",
        f"Data: LFW `{c.lfw}`, WIDER `{c.wider}`, scenes `{c.scenes}`.",
        f"Ours = detector `{c.detector}`, embedder `{c.embedder}` and the library's search defaults.",
        "Reproduce: `python -m face_pipeline.evaluation` (all sets; `--quick` for a quarter of each; "
        "`--help` for other folders in the same formats).",
        "",
    ]
    if report.targets:
        lines += ["## Targets (issue #4)", "", as_table(("target", "measured (ours)", ""), report.targets), ""]
    for title, text in report.sections:
        lines += [f"## {title}", "", text, ""]
    if report.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in report.notes] + [""]
    if DISCUSSION_HEADING in keep_from:
        lines += [keep_from[keep_from.index(DISCUSSION_HEADING):].rstrip(), ""]
    return "\n".join(lines)
