"""Model variants (issue 24): float, int8 and fp16 copies of the shipped detector and embedder, side by
side on the demo photos: CPU time per face or photo (one thread, the rounds interleaved so that a
change of load hits every model), how far their output lies from the float model's, and the peak
memory of a fresh process that loads one and runs it. Copies the catalogue does not ship (dynamic
int8, RetinaFace int8) are built here, from the installed float files, to show why.

    python -m face_pipeline.benchmarks --part variants
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from face_pipeline.benchmarks.environment import load_average

ROUNDS = 3


@dataclass
class VariantsFigures:
    embedders: list[tuple] = field(default_factory=list)  # label, ms/face, vs float, mean/max distance, MiB
    detectors: list[tuple] = field(default_factory=list)  # label, ms/photo, vs float, matched, MiB
    faces: int = 0
    photos: int = 0
    load: str = ""


def _peak_mib(path: Path, kind: str) -> float:
    """Peak RSS of a fresh process that opens `path` (one thread) and runs one batch or photo."""
    code = f"""
import numpy as np, onnxruntime as ort
o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.log_severity_level = 3
s = ort.InferenceSession({str(path)!r}, o, providers=["CPUExecutionProvider"])
x = np.zeros({(12, 160, 160, 3) if kind == "embedder" else (1, 3, 704, 1024)}, np.float32)
s.run(None, {{s.get_inputs()[0].name: x}})
# VmHWM, not ru_maxrss: the latter keeps the parent's high-water mark across fork and exec.
print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def run_variants_benchmark(*, log=print) -> VariantsFigures:
    from face_pipeline.lib.bundled_files import demo_dir
    from face_pipeline.lib.models import find_faces, get_detector, get_embedder
    from face_pipeline.lib.models.conversions import quantise
    from face_pipeline.lib.models.detectors.retinaface import RetinaFaceDetector
    from face_pipeline.lib.models.embedders.facenet import FaceNetEmbedder
    from face_pipeline.lib.models.faces import iou
    from face_pipeline.lib.models.inference import set_session_threads
    from face_pipeline.lib.photos.decode import load_rgb

    set_session_threads(1)
    figs = VariantsFigures(load=load_average())
    images = [load_rgb(p, max_side=2400).rgb for p in sorted((demo_dir() / "photos").rglob("*.jpg"))]
    float_detector = get_detector("retinaface-mnet025")
    float_embedder = get_embedder("facenet-v1")
    chips = [float_embedder.crop(rgb, f) for rgb in images for f in find_faces(rgb, float_detector)]
    figs.faces, figs.photos = len(chips), len(images)
    with tempfile.TemporaryDirectory(prefix="face_pipeline_variants_") as tmp:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        dynamic = Path(tmp) / "facenet-dynamic-int8.onnx"
        quantize_dynamic(str(float_embedder.onnx_path), str(dynamic), weight_type=QuantType.QUInt8)
        retina_int8 = Path(tmp) / "retinaface-int8.onnx"
        retina_int8.write_bytes(quantise.int8_static(float_detector.onnx_path.read_bytes(), quantise.retinaface_inputs))
        embedders = {
            "facenet-v1 (float32)": float_embedder,
            "facenet-v1-int8 (static int8, shipped)": get_embedder("facenet-v1-int8"),
            "dynamic int8 (ConvInteger; not shipped)": FaceNetEmbedder(dynamic),
            "fp16 (facenet-v1-flip-fp16's file)": FaceNetEmbedder(get_embedder("facenet-v1-flip-fp16").onnx_path),
        }
        detectors = {
            "retinaface-mnet025 (float32)": float_detector,
            "static int8 (not shipped)": RetinaFaceDetector(retina_int8),
            "fp16 (retinaface-mnet025-autorot-fp16's file)": RetinaFaceDetector(
                get_detector("retinaface-mnet025-autorot-fp16").upright.onnx_path
            ),
        }
        reference = float_embedder.embed(chips)
        times = _cpu_ms(embedders, detectors, chips, images, log)
        base = float(np.median(times["facenet-v1 (float32)"]))
        for label, e in embedders.items():
            d = 1.0 - (e.embed(chips) * reference).sum(axis=1)
            ms = float(np.median(times[label]))
            figs.embedders.append(
                (label, ms, base / ms, float(d.mean()), float(d.max()), _peak_mib(e.onnx_path, "embedder"))
            )
        refs = [float_detector.detect(rgb) for rgb in images]
        base = float(np.median(times["retinaface-mnet025 (float32)"]))
        for label, det in detectors.items():
            matched = total = 0
            for rgb, ref in zip(images, refs, strict=True):
                got = det.detect(rgb)
                total += len(ref)
                matched += sum(max((iou(f.box, g.box) for g in got), default=0.0) >= 0.8 for f in ref)
            ms = float(np.median(times[label]))
            figs.detectors.append((label, ms, base / ms, f"{matched}/{total}", _peak_mib(det.onnx_path, "detector")))
    figs.load += f" -> {load_average()}"
    return figs


def _cpu_ms(embedders: dict, detectors: dict, chips: list, images: list, log) -> dict[str, list[float]]:
    """CPU ms per face (embedders) and per photo (detectors), ROUNDS rounds each, sessions opened first."""
    times: dict[str, list[float]] = {k: [] for k in [*embedders, *detectors]}
    for e in embedders.values():
        e.embed(chips[:2])  # sessions open outside the timed rounds
    for r in range(ROUNDS):
        log(f"variants: round {r + 1}/{ROUNDS}")
        for label, e in embedders.items():
            t = time.process_time()
            e.embed(chips)
            times[label].append(1000 * (time.process_time() - t) / len(chips))
        for label, d in detectors.items():
            t = time.process_time()
            for rgb in images:
                d.detect(rgb)
            times[label].append(1000 * (time.process_time() - t) / len(images))
    return times


def variants_markdown(f: VariantsFigures, head: str) -> str:
    lines = [
        "## Model variants: float, int8, fp16 (demo photos, one thread)",
        "",
        head,
        f"- machine load (1/5/15 min) before -> after: {f.load}; CPU time, median of {ROUNDS} interleaved rounds",
        "",
        f"Embedders on the {f.faces} faces RetinaFace finds in the {f.photos} demo photos (batches as ingest makes "
        "them); distance: cosine distance to the float model's vector of the same face; memory: peak RSS of a "
        "fresh process that loads the model and embeds 12 faces.",
        "",
        "| FaceNet | CPU ms/face | speed vs float | mean distance | max distance | peak RSS |",
        "|---|---|---|---|---|---|",
    ]
    for label, ms, speed, mean, mx, mib in f.embedders:
        lines.append(f"| {label} | {ms:.1f} | {speed:.2f}x | {mean:.4f} | {mx:.4f} | {mib:.0f} MiB |")
    lines += [
        "",
        "Detectors on the same photos (upright pass at 1024 px); matched: the float model's faces found at IoU >= 0.8.",
        "",
        "| RetinaFace | CPU ms/photo | speed vs float | faces matched | peak RSS |",
        "|---|---|---|---|---|",
    ]
    for label, ms, speed, matched, mib in f.detectors:
        lines.append(f"| {label} | {ms:.1f} | {speed:.2f}x | {matched} | {mib:.0f} MiB |")
    return "\n".join(lines) + "\n"
