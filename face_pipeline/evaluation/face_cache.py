"""Analysed photos of a run, keyed by (photo, detector model id); optionally kept on disk between runs
(`--cache-dir`), one pickle per (photo, detector) holding every vector computed for it so far. The
cache is the harness's own scratch space: it is written and read by this process only."""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from face_pipeline.evaluation.analysis import PhotoFaces, PhotoJob, analyse
from face_pipeline.evaluation.recipes import detector_from_spec
from face_pipeline.lib.models import embedder_model_id

Log = Callable[[str], None]


class FaceCache:
    def __init__(self, workers: int, log: Log, disk: Path | None = None):
        self.workers = max(1, workers)
        self.log = log
        self.disk = disk
        self._mem: dict[tuple[str, str], PhotoFaces] = {}
        self._by_photo: dict[str, list[PhotoFaces]] = {}
        if disk:
            disk.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _detector_id(job: PhotoJob) -> str:
        return detector_from_spec(job.detector, job.folders).model_id

    def _disk_path(self, job: PhotoJob) -> Path | None:
        if not self.disk:
            return None
        stamp = ""
        if job.path:
            st = os.stat(job.path)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        raw = f"{job.key}|{self._detector_id(job)}|{stamp}|{job.composite!r}"
        return self.disk / (hashlib.sha256(raw.encode()).hexdigest()[:24] + ".pkl")

    def _remember(self, job: PhotoJob, faces: PhotoFaces) -> None:
        self._mem[(job.key, self._detector_id(job))] = faces
        self._by_photo.setdefault(job.key, []).append(faces)

    def get(self, jobs: Sequence[PhotoJob], label: str) -> dict[str, PhotoFaces]:
        out: dict[str, PhotoFaces] = {}
        todo: list[PhotoJob] = []
        for job in jobs:
            wanted = tuple(embedder_model_id(n, job.folders) for n in job.embedders)
            hit = self._mem.get((job.key, self._detector_id(job)))
            path = self._disk_path(job)
            if hit is None and path and path.is_file():
                hit = pickle.loads(path.read_bytes())
                self._remember(job, hit)
            if hit is not None and all(m in hit.vectors for m in wanted):
                out[job.key] = hit
                continue
            todo.append(self._with_known(job))
        if todo:
            t0 = time.perf_counter()
            self.log(f"  {label}: analysing {len(todo)} photos with {todo[0].detector} on {self.workers} process(es)")
            for job, res in zip(todo, self._run(todo), strict=True):
                old = self._mem.get((job.key, self._detector_id(job)))
                if old is not None and old.face_keys == res.face_keys:
                    res.vectors = {**old.vectors, **res.vectors}
                self._remember(job, res)
                out[job.key] = res
                path = self._disk_path(job)
                if path:
                    path.write_bytes(pickle.dumps(res))
            self.log(f"  {label}: {len(todo)} photos in {time.perf_counter() - t0:.0f} s")
        return out

    def _with_known(self, job: PhotoJob) -> PhotoJob:
        """The job, told the vectors already computed for faces at the same place (other detectors)."""
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
