"""The original recipe: CLIP ViT-B/32 image embeddings through `imgbeddings` (768-d, cosine).

CLIP embeds what an image shows, not who a face belongs to; it is kept selectable to compare
against. Its ONNX file and CLIP processor files must be present locally in FACE_PIPELINE_CLIP_MODEL_DIR:
`patch32_v1.onnx` (or `model.onnx`) and `preprocessor_config.json` (imgbeddings itself would fetch
them from a hub, which never happens here).
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np

from face_pipeline.lib.models.card import ModelCard
from face_pipeline.lib.models.faces import DetectedFace
from face_pipeline.lib.models.interfaces import Metric, logistic
from face_pipeline.lib.models.weights import ModelFilesMissing

ONNX_NAMES = ("patch32_v1.onnx", "model.onnx")


class ClipImgbeddingsEmbedder:
    metric: Metric = "cosine"
    crop_kind = "box"
    default_threshold = 0.15
    link_threshold = 0.05  # CLIP is no identity model: it links near-duplicates only

    def __init__(self, model_dir: str | Path):
        self.folder, self.onnx_path = self.files_in(model_dir)
        self.model_id = self.model_id_for(model_dir)

    @cached_property
    def _imgbeddings(self):
        """imgbeddings and its ONNX session, opened on first use."""
        return _load_imgbeddings(self.onnx_path, self.folder)

    @cached_property
    def dim(self) -> int:
        out = self._imgbeddings.session.get_outputs()[0].shape
        return int(out[-1]) if isinstance(out[-1], int) else int(_meta(self.folder).get("dim", 768))

    @staticmethod
    def files_in(model_dir: str | Path | None) -> tuple[Path, Path]:
        if not model_dir:
            raise ModelFilesMissing(
                "clip-imgbeddings needs local model files: set FACE_PIPELINE_CLIP_MODEL_DIR to a folder "
                "holding imgbeddings' patch32_v1.onnx and CLIP's preprocessor_config.json "
                "(models are never downloaded at run time)"
            )
        folder = Path(model_dir)
        onnx_path = next((folder / n for n in ONNX_NAMES if (folder / n).is_file()), None)
        if onnx_path is None or not (folder / "preprocessor_config.json").is_file():
            raise ModelFilesMissing(f"{folder} must hold one of {ONNX_NAMES} and preprocessor_config.json")
        return folder, onnx_path

    @classmethod
    def model_id_for(cls, model_dir: str | Path | None) -> str:
        """The id names the weights in the folder, so vectors of two CLIP variants never mix."""
        folder, onnx_path = cls.files_in(model_dir)
        return _meta(folder).get("model_id") or f"clip-imgbeddings-{onnx_path.stem}"

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
        return logistic(distance, self.default_threshold, 0.03)


def _meta(folder: Path) -> dict:
    path = folder / "face_pipeline_model.json"
    return json.loads(path.read_text()) if path.is_file() else {}


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


CARD = ModelCard(
    name="clip-imgbeddings",
    kind="embedder",
    model_id="clip-imgbeddings-patch32_v1",
    crop_kind=ClipImgbeddingsEmbedder.crop_kind,
    licence="MIT (imgbeddings); CLIP weights: MIT (OpenAI); files supplied by the user",
    input_size="the face's box, padded square and resized to 224x224 by CLIP's processor",
    summary="CLIP ViT-B/32 via imgbeddings, the original recipe (not a face-identity model)",
    evidence="not measured: CLIP's weights are in no package installed here (EVALUATION.md, 'Caveats'); "
    "the tests run the recipe end to end on a small stand-in CLIP model",
    user_files="imgbeddings' patch32_v1.onnx and CLIP's preprocessor_config.json in FACE_PIPELINE_CLIP_MODEL_DIR",
    # The id names the files found there ("clip-imgbeddings-patch32_v1" for imgbeddings' own file),
    # so vectors of two CLIP variants never mix.
    model_id_from_files=lambda folders: ClipImgbeddingsEmbedder.model_id_for(folders.clip_model_dir),
    factory=lambda files: ClipImgbeddingsEmbedder(files.folders.clip_model_dir),
)
