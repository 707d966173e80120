"""Face embedders, chosen by name; each has a stable `model_id`, a dimension and its own distance.

An embedder decides what it looks at (`crop`): the dlib ResNet wants a 150x150 chip aligned on
the 5-point landmarks; the original recipe's CLIP looked at the raw detector box. The crop is what
face_crops stores on disk, so embedding can run later, elsewhere, from the files alone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from face_pipeline.lib.detectors import DetectedFace, UnknownModel
from face_pipeline.lib.model_files import ModelFilesMissing, dlib_model_path

Metric = Literal["l2", "cosine"]


class FaceEmbedder(Protocol):
    name: str
    model_id: str
    dim: int
    metric: Metric
    default_threshold: float

    def crop(self, rgb: np.ndarray, face: DetectedFace) -> np.ndarray: ...

    def embed(self, crops: list[np.ndarray]) -> np.ndarray: ...

    def confidence(self, distance: float) -> float: ...


def _logistic(distance: float, midpoint: float, scale: float) -> float:
    z = (distance - midpoint) / scale
    if z > 50:
        return 0.0
    return 1.0 / (1.0 + math.exp(z))


class DlibResnetEmbedder:
    """dlib's ResNet-34 face descriptor (128-d, euclidean): 99.38 % on LFW in its authors' test."""

    name = "dlib-resnet-v1"
    model_id = "dlib-resnet-v1"
    dim = 128
    metric: Metric = "l2"
    chip_size = 150
    chip_padding = 0.25
    # Operating point and confidence calibration, measured by `python -m face_pipeline.evaluation`
    # (EVALUATION.md) with the library's search (mean-distance enrolment, query expansion):
    # default_threshold maximises min(mean precision, mean recall) of photo-level retrieval on the
    # LFW dev data (a two-fold split over identities picks 0.52 / 0.53); the confidence is the
    # logistic fitted (Platt) to the right/wrong share of the candidates a lookup returns there.
    default_threshold = 0.53
    _conf_midpoint = 0.50
    _conf_scale = 0.02

    def __init__(self):
        import dlib

        self._model = dlib.face_recognition_model_v1(dlib_model_path("dlib_face_recognition_resnet_model_v1.dat"))

    def crop(self, rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
        import dlib

        if face.landmarks is None:
            raise ValueError("dlib-resnet-v1 needs 5-point landmarks to align a face")
        rect = dlib.rectangle(*face.box)
        shape = dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in face.landmarks])
        return np.asarray(dlib.get_face_chip(rgb, shape, size=self.chip_size, padding=self.chip_padding))

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        return self._descriptors(crops)

    def _descriptors(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.dim), dtype=np.float32)
        chips = [np.ascontiguousarray(c, dtype=np.uint8) for c in crops]
        vectors = self._model.compute_face_descriptor(chips)
        return np.asarray([np.asarray(v) for v in vectors], dtype=np.float32)

    def embed_views(self, crops: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Vectors of every dlib ResNet variant from one network pass over each chip and its mirror
        image, keyed by model_id (the evaluation harness compares variants without paying twice)."""
        both = self._descriptors([*crops, *(c[:, ::-1] for c in crops)])
        plain, mirrored = both[: len(crops)], both[len(crops) :]
        return {
            DlibResnetEmbedder.model_id: plain,
            DlibResnetFlipEmbedder.model_id: _mean_of_views(plain, mirrored),
        }

    def confidence(self, distance: float) -> float:
        return _logistic(distance, self._conf_midpoint, self._conf_scale)


def _mean_of_views(plain: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
    return ((plain.astype(np.float64) + mirrored) / 2.0).astype(np.float32)


class DlibResnetFlipEmbedder(DlibResnetEmbedder):
    """dlib ResNet with flip test-time augmentation: the mean of the descriptors of the aligned chip
    and of its mirror image. A face's left and right halves then count alike, which makes turned
    faces and one-sided lighting less decisive; it costs a second network pass per face.

    Its vectors differ from dlib-resnet-v1's, hence its own model_id (never compare the two).
    """

    name = "dlib-resnet-v1-flip"
    model_id = "dlib-resnet-v1-flip"
    mirror = True  # embeds the mirror image too, so embed_views gives the plain vectors for free
    # Operating point and confidence calibration: measured like dlib-resnet-v1's (EVALUATION.md,
    # run with --embedder dlib-resnet-v1-flip), not carried over from it.
    default_threshold = 0.52
    _conf_midpoint = 0.49
    _conf_scale = 0.02

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.embed_views(crops)[self.model_id]


class ClipImgbeddingsEmbedder:
    """The original recipe: CLIP ViT-B/32 image embeddings through `imgbeddings` (768-d, cosine).

    CLIP embeds what an image shows, not who a face belongs to; it is kept selectable to compare
    against. Its ONNX file and CLIP processor files must be present locally in `model_dir`
    (FACE_PIPELINE_CLIP_MODEL_DIR): `patch32_v1.onnx` (or `model.onnx`) and `preprocessor_config.json`.
    """

    name = "clip-imgbeddings"
    metric: Metric = "cosine"
    default_threshold = 0.15
    onnx_names = ("patch32_v1.onnx", "model.onnx")

    def __init__(self, model_dir: str | Path | None = None):
        if not model_dir:
            from face_pipeline.lib.settings import Settings

            model_dir = Settings.from_env().clip_model_dir
        if not model_dir:
            raise ModelFilesMissing(
                "clip-imgbeddings needs local model files: set FACE_PIPELINE_CLIP_MODEL_DIR to a folder "
                "holding imgbeddings' patch32_v1.onnx and CLIP's preprocessor_config.json "
                "(models are never downloaded at run time)"
            )
        folder = Path(model_dir)
        onnx_path = next((folder / n for n in self.onnx_names if (folder / n).is_file()), None)
        if onnx_path is None or not (folder / "preprocessor_config.json").is_file():
            raise ModelFilesMissing(
                f"{folder} must hold one of {self.onnx_names} and preprocessor_config.json"
            )
        self._imgbeddings = _load_imgbeddings(onnx_path, folder)
        meta_path = folder / "face_pipeline_model.json"
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        # The model id names the weights actually loaded, so vectors of two CLIP variants never mix.
        self.model_id = meta.get("model_id") or f"clip-imgbeddings-{onnx_path.stem}"
        out = self._imgbeddings.session.get_outputs()[0].shape
        self.dim = int(out[-1]) if isinstance(out[-1], int) else int(meta.get("dim", 768))

    def crop(self, rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
        l, t, r, b = face.box
        return np.ascontiguousarray(rgb[t:b, l:r])

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.dim), dtype=np.float32)
        from PIL import Image

        images = [Image.fromarray(c) for c in crops]
        return np.asarray(self._imgbeddings.to_embeddings(images), dtype=np.float32).reshape(len(crops), -1)

    def confidence(self, distance: float) -> float:
        return _logistic(distance, self.default_threshold, 0.03)


def _load_imgbeddings(onnx_path: Path, processor_dir: Path):
    """An `imgbeddings` object built from local files only.

    imgbeddings' own constructor fetches the CLIP processor from a hub by name; here the same object
    is assembled with the processor read from `processor_dir`, and the rest of imgbeddings' code
    (square padding, batching, ONNX session) is used as it is.
    """
    from imgbeddings import imgbeddings
    from imgbeddings.utils import create_session_for_provider
    from transformers import CLIPImageProcessor

    obj = object.__new__(imgbeddings)
    obj.model_path = str(onnx_path)
    obj.patch_size, obj.version, obj.pca, obj.gpu, obj.provider = 32, 1, None, False, None
    obj.session = create_session_for_provider(str(onnx_path), None, False)
    processor = CLIPImageProcessor.from_pretrained(str(processor_dir), local_files_only=True)
    processor.do_center_crop = False  # as imgbeddings does, for embedding consistency
    obj.processor = processor
    return obj


EMBEDDERS: dict[str, Callable[[], FaceEmbedder]] = {
    "dlib-resnet-v1": DlibResnetEmbedder,
    "dlib-resnet-v1-flip": DlibResnetFlipEmbedder,
    "clip-imgbeddings": ClipImgbeddingsEmbedder,
}


@cache
def get_embedder(name: str) -> FaceEmbedder:
    """The embedder registered under `name`, loaded once per process."""
    try:
        factory = EMBEDDERS[name]
    except KeyError:
        raise UnknownModel(f"unknown embedder {name!r}; choose one of {sorted(EMBEDDERS)}") from None
    return factory()


def distance(a: np.ndarray, b: np.ndarray, metric: Metric) -> np.ndarray:
    """Distances from each row of `a` to vector `b`, as pgvector computes them (<-> or <=>)."""
    a = np.atleast_2d(a).astype(np.float64)
    b = np.asarray(b, dtype=np.float64)
    if metric == "l2":
        return np.linalg.norm(a - b, axis=1)
    na = np.linalg.norm(a, axis=1) * np.linalg.norm(b)
    return 1.0 - (a @ b) / np.where(na == 0, 1.0, na)
