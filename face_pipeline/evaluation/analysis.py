"""One photo, analysed with the library's own calls (decode, find_faces, crop, embed), in a worker
process. Every photo is analysed once per detector in a run; the vectors of several embedders come
from the same faces, and a face that another detector found at the same place reuses its vectors."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from face_pipeline.evaluation.recipes import detector_from_spec
from face_pipeline.evaluation.synthetic import Composite, render
from face_pipeline.lib.models import ModelFolders, embedder_model_id, find_faces, get_embedder
from face_pipeline.lib.photos.decode import load_rgb
from face_pipeline.lib.photos.files import PhotoRejected


@dataclass(frozen=True)
class PhotoJob:
    key: str
    detector: str
    embedders: tuple[str, ...]
    folders: ModelFolders
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
    """Evaluation only: one photo's detections and vectors of several models, columnar (cached across runs)."""

    key: str
    boxes: list[tuple[int, int, int, int]]
    scores: list[float]
    vectors: dict[str, np.ndarray]  # model_id -> (faces, dim)
    face_keys: list[str] = field(default_factory=list)
    landmarks: list[list[float]] = field(default_factory=list)  # 10 values per face, photo pixels
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
        return min(
            range(len(self.boxes)),
            key=lambda i: (
                ((self.boxes[i][0] + self.boxes[i][2]) / 2 - cx) ** 2
                + ((self.boxes[i][1] + self.boxes[i][3]) / 2 - cy) ** 2
            ),
        )


def analyse(job: PhotoJob) -> PhotoFaces:
    """Decode (or compose), detect, align, embed one photo."""
    try:
        rgb = render(job.composite) if job.composite is not None else load_rgb(job.path, max_side=job.max_side).rgb
    except (PhotoRejected, OSError) as exc:
        return PhotoFaces(job.key, [], [], {}, error=str(exc))
    t0 = time.perf_counter()
    faces = find_faces(rgb, detector_from_spec(job.detector, job.folders))
    t1 = time.perf_counter()
    keys = [face_key(f.box, f.landmarks) for f in faces]
    known = {k: dict(v) for k, v in job.known}
    wanted = {embedder_model_id(n, job.folders) for n in job.embedders}
    vectors: dict[str, np.ndarray] = {}
    for name in job.embedders:
        emb = get_embedder(name, job.folders)
        if emb.model_id in vectors:
            continue
        todo = [i for i, k in enumerate(keys) if emb.model_id not in known.get(k, {})]
        fresh: dict[str, np.ndarray] = {}
        if todo:
            crops = [emb.crop(rgb, faces[i]) for i in todo]
            both = {getattr(emb, "plain_model_id", None), getattr(emb, "flip_model_id", None)}
            if both <= wanted:  # plain and flip-augmented vectors from one pass over chips and mirrors
                fresh = emb.embed_views(crops)
            else:
                fresh = {emb.model_id: emb.embed(crops)}
        for mid, vecs in fresh.items():
            for i, v in zip(todo, vecs, strict=True):
                known.setdefault(keys[i], {})[mid] = v
        for mid in {emb.model_id, *fresh}:
            if all(mid in known.get(k, {}) for k in keys):
                vectors[mid] = np.asarray([known[k][mid] for k in keys], dtype=np.float32).reshape(len(keys), emb.dim)
    t2 = time.perf_counter()
    landmarks = [np.asarray(f.landmarks, dtype=np.float32).ravel().round(2).tolist() for f in faces]
    return PhotoFaces(
        job.key,
        [f.box for f in faces],
        [f.score for f in faces],
        vectors,
        keys,
        landmarks,
        rgb.shape[1],
        rgb.shape[0],
        t1 - t0,
        t2 - t1,
    )
