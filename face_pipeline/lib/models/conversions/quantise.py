"""Install-time int8 and fp16 variants of our float ONNX models (never committed: each is built from
the registry's weights by `face-pipeline models install NAME`, after the float model's own conversion).

- int8: ONNX Runtime's static quantisation (QDQ; weights int8 per output channel, activations uint8
  with ranges calibrated by MinMax). Dynamic quantisation was measured and rejected: it turns every
  Conv into ConvInteger, 1.3-8x *slower* than float on the CPUs here (BENCHMARKS.md, "Model variants").
  Calibration uses the bundled demo photos only (public domain, shipped with the package): FaceNet sees
  the hand-checked face boxes of demo/face_boxes.json cut square and resized to its chip, which gives
  the activation ranges of real faces without running a detector at install time. RetinaFace's int8
  copy (calibrated on the demo photos as its network input) was measured and not shipped: slower than
  float here and its boxes moved (46 of 65 demo faces at IoU >= 0.8 with the float model's).
- fp16: every float32 weight and activation in half precision, input and output kept float32
  (`onnxruntime.transformers.float16`), for the CUDA provider; on a CPU it runs at float32's speed (ONNX Runtime computes it in float).

Both are deterministic for one version of onnx and onnxruntime (checked: two builds, same bytes);
other versions may write other bytes, which `models install` notes and records (weights.install).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from face_pipeline.lib.bundled_files import demo_dir

Inputs = Callable[[], Iterator[np.ndarray]]


def int8_static(onnx_bytes: bytes, calibration: Inputs, *, input_name: str = "input") -> bytes:
    """`onnx_bytes` quantised to int8 (QDQ), with activation ranges from `calibration`'s inputs."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._inputs = ({input_name: x} for x in calibration())

        def get_next(self):
            return next(self._inputs, None)

    with tempfile.TemporaryDirectory(prefix="face_pipeline_quantise_") as tmp:
        src, pre, out = Path(tmp) / "float.onnx", Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        model = onnx.load_from_string(onnx_bytes)
        if model.opset_import[0].version < 13:  # per-channel DequantizeLinear needs opset 13
            model = version_converter.convert_version(model, 13)
        onnx.save(model, src)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=False,
            calibrate_method=CalibrationMethod.MinMax,
        )
        return out.read_bytes()


def fp16(onnx_bytes: bytes) -> bytes:
    """`onnx_bytes` in half precision, input and output still float32."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load_from_string(onnx_bytes), keep_io_types=True)
    return model.SerializeToString()


# ---- calibration inputs, from the bundled demo photos ------------------------------------------


def _demo_photos() -> list[Path]:
    return sorted((demo_dir() / "photos").rglob("*.jpg")) + sorted((demo_dir() / "reference").glob("*.jpg"))


def retinaface_inputs() -> Iterator[np.ndarray]:
    """RetinaFace's network input for each demo photo, made as the detector makes it."""
    from face_pipeline.lib.models.detectors.retinaface import RetinaFaceDetector
    from face_pipeline.lib.photos.decode import load_rgb

    for path in _demo_photos():
        yield RetinaFaceDetector.network_input(load_rgb(path, max_side=2400).rgb, 1024)[0]


def facenet_inputs(batch: int = 8) -> Iterator[np.ndarray]:
    """FaceNet's input for the demo's labelled faces: each box cut square (1.2x its side), resized to
    160 px, standardised as the embedder does; in batches of `batch`."""
    import cv2

    from face_pipeline.lib.models.embedders.facenet import FaceNetEmbedder
    from face_pipeline.lib.photos.decode import load_rgb

    boxes = json.loads((demo_dir() / "face_boxes.json").read_text())["faces"]
    chips = []
    for rel, faces in sorted(boxes.items()):
        path = demo_dir() / rel if (demo_dir() / rel).is_file() else demo_dir() / "photos" / rel
        rgb = load_rgb(path, max_side=2400).rgb
        h, w = rgb.shape[:2]
        for left, top, right, bottom in faces:
            cx, cy, half = (left + right) / 2, (top + bottom) / 2, 0.6 * max(right - left, bottom - top)
            x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
            x1, y1 = int(min(w, cx + half)), int(min(h, cy + half))
            if x1 - x0 >= 8 and y1 - y0 >= 8:
                chips.append(cv2.resize(rgb[y0:y1, x0:x1], (160, 160), interpolation=cv2.INTER_AREA))
    x = FaceNetEmbedder(Path("unused.onnx")).preprocess(np.stack(chips))  # opens no session
    for i in range(0, len(x), batch):
        yield x[i : i + batch]
