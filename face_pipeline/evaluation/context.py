"""What every section of a run shares: its settings and recipes, the face cache, one pgvector
database (a temporary embedded server unless --dsn), the data sets, and a place for notes."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from face_pipeline.evaluation.analysis import PhotoFaces, PhotoJob
from face_pipeline.evaluation.datasets import IdentitySet, LabelledPhoto, read_identity_folder
from face_pipeline.evaluation.face_cache import FaceCache, Log
from face_pipeline.evaluation.recipes import Recipe, detector_from_spec, recipes_for
from face_pipeline.lib.errors import FacePipelineError
from face_pipeline.lib.models import get_embedder
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.store import VectorStore, embedded_postgres


@dataclass
class HarnessConfig:
    settings: Settings  # ours: the same Settings.from_env (+ flags) as the CLI
    lfw: Path | None = None
    wider: Path | None = None
    scenes: Path | None = None
    demo: Path | None = None
    quick: bool = False
    workers: int = 0
    cache_dir: Path | None = None
    synthetic: int = 120
    dsn: str = ""
    candidates: tuple[tuple[str, str], ...] = ()
    detectors: tuple[str, ...] = ()  # more rows for the detection tables
    embedders: tuple[str, ...] = ()  # more rows for the identity-model comparison (on ours' detector)
    only: tuple[str, ...] = ()  # run only these sections (run.SECTION_KEYS); empty: all
    worst_html: Path | None = None  # the worst cases' thumbnails (HTML page next to the report); None: not written


@dataclass
class Harness:
    config: HarnessConfig
    log: Log = field(default=lambda s: print(s, file=sys.stderr, flush=True))

    def __post_init__(self) -> None:
        workers = self.config.workers or (os.cpu_count() or 1)
        self.folders = self.config.settings.model_folders
        self.cache = FaceCache(workers, self.log, self.config.cache_dir)
        self.recipes = recipes_for(self.config.settings, self.config.candidates)
        self.tmp = Path(tempfile.mkdtemp(prefix="face_pipeline_eval_"))
        self.tmp.chmod(0o755)  # as root, the embedded server runs as another user
        self.notes: list[str] = []
        # (data set, model id) -> ranked answers of its queries with the library's search defaults:
        # the thresholds section chooses each embedder's operating point from all of them.
        self.answers: dict[tuple[str, str], list] = {}
        self._store: VectorStore | None = None
        self._lfw: IdentitySet | None = None
        self._runnable: list[Recipe] | None = None

    @property
    def ours(self) -> Recipe:
        return next(r for r in self.recipes if r.key == "ours")

    def runnable(self) -> list[Recipe]:
        """Recipes whose models load here; the others are noted with the reason."""
        if self._runnable is None:
            self._runnable = []
            for r in self.recipes:
                try:
                    get_embedder(r.embedder, self.folders)
                    detector_from_spec(r.detector, self.folders)
                except FacePipelineError as exc:
                    self.notes.append(f"**{r.title}: not run.** {exc}")
                    continue
                self._runnable.append(r)
        return self._runnable

    def store(self) -> VectorStore:
        if self._store is None:
            dsn = self.config.dsn
            if not dsn:
                dsn = embedded_postgres.app_dsn(embedded_postgres.start(self.tmp / "pg"))
            self._store = VectorStore(dsn)
            self._store.migrate()
        return self._store

    def close(self) -> None:
        if self._store is not None and not self.config.dsn:
            embedded_postgres.stop(self.tmp / "pg")
        shutil.rmtree(self.tmp, ignore_errors=True)

    def job(self, key: str, detector: str, embedders: tuple[str, ...], **kw) -> PhotoJob:
        return PhotoJob(key, detector, embedders, self.folders, **kw)

    # ---- LFW ----
    def lfw_set(self) -> IdentitySet:
        if self._lfw is None:
            ds = read_identity_folder(self.config.lfw)
            if self.config.quick:
                counts = ds.counts()
                keep = set(sorted(i for i, c in counts.items() if c >= 4)[::4])
                keep |= set(sorted(i for i, c in counts.items() if c < 4)[::4])
                ds = IdentitySet(ds.root, [p for p in ds.photos if p.identity in keep], list(ds.pairs))
                paths = {p.path for p in ds.photos}
                ds.pairs = [pr for pr in ds.pairs if pr.a in paths and pr.b in paths]
            self._lfw = ds
        return self._lfw

    def lfw_faces(self, detector: str, embedders: tuple[str, ...]) -> dict[str, PhotoFaces]:
        jobs = [self.job(str(p.path), detector, embedders, path=str(p.path)) for p in self.lfw_set().photos]
        return self.cache.get(jobs, f"LFW [{detector}: {', '.join(embedders)}]")

    def lfw_queries(self) -> list[LabelledPhoto]:
        """The first photo (by name) of every identity with at least 4 photos."""
        return [photos[0] for _i, photos in sorted(self.lfw_set().by_identity().items()) if len(photos) >= 4]

    @staticmethod
    def query_vector(pf: PhotoFaces | None, model_id: str) -> np.ndarray:
        """The central face's vector (LFW labels the central face of each crop); empty if none."""
        i = pf.central_face() if pf is not None else None
        if i is None or model_id not in pf.vectors:
            return np.zeros((0, 1), dtype=np.float32)
        return pf.vectors[model_id][i : i + 1]
