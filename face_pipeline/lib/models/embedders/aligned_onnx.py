"""What the ONNX identity models share: a five-point aligned chip in, an L2-normalised vector out,
cosine distance, and an optional flip test-time augmentation (mean of the chip's and its mirror
image's vectors, a second pass per face)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from face_pipeline.lib.models.alignment import align_face
from face_pipeline.lib.models.faces import DetectedFace
from face_pipeline.lib.models.inference import EMBED_BATCH, onnx_session
from face_pipeline.lib.models.interfaces import Metric, l2_normalise, logistic


class AlignedOnnxEmbedder:
    metric: Metric = "cosine"
    chip_size: int
    zoom: float = 1.0  # < 1 shows more around the face than the ArcFace template does
    flip: bool = False
    batch_size = 32
    default_threshold: float
    conf_midpoint: float
    conf_scale: float

    def __init__(self, onnx_path: Path, device: str = "cpu"):
        self.onnx_path = onnx_path
        self.device = device
        self.batch_size = EMBED_BATCH.get(device, self.batch_size)  # a GPU wants large batches

    @cached_property
    def _net(self) -> tuple[object, str]:
        """The session (opened on the first embedding) and its input's name."""
        session = onnx_session(self.onnx_path, self.device)
        return session, session.get_inputs()[0].name

    def crop(self, rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
        return align_face(rgb, face, self.chip_size, zoom=self.zoom)

    def preprocess(self, chips: np.ndarray) -> np.ndarray:
        """uint8 [N, size, size, 3] RGB chips -> the network's float32 input."""
        raise NotImplementedError

    def raw_vectors(self, crops: list[np.ndarray]) -> np.ndarray:
        chips = np.stack([np.asarray(c, dtype=np.uint8) for c in crops])
        session, input_name = self._net
        out = [
            session.run(None, {input_name: self.preprocess(chips[i : i + self.batch_size])})[0]
            for i in range(0, len(chips), self.batch_size)
        ]
        return np.concatenate(out).astype(np.float32)

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.dim), dtype=np.float32)
        if not self.flip:
            return l2_normalise(self.raw_vectors(crops))
        return self.embed_views(crops)[self.model_id]

    def embed_views(self, crops: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Plain and flip-augmented vectors from one pass over the chips and their mirror images
        (the evaluation harness measures both without paying twice)."""
        both = l2_normalise(self.raw_vectors([*crops, *(c[:, ::-1] for c in crops)]))
        plain, mirrored = both[: len(crops)], both[len(crops) :]
        return {self.plain_model_id: plain, self.flip_model_id: l2_normalise(plain + mirrored)}

    def confidence(self, distance: float) -> float:
        return logistic(distance, self.conf_midpoint, self.conf_scale)
