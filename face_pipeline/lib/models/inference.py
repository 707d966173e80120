"""ONNX Runtime sessions: one per model file, device and process, opened on a model's first use.

Threads: an ingest runs one worker process per core (`FACE_PIPELINE_WORKERS`), and the parallelism is
across photos; each worker's sessions then get cores // workers threads (the pool's initializer calls
`set_session_threads`), so that workers x threads = cores and no session oversubscribes the machine.
A lone process (a lookup, a small event embedded in the calling process) uses every core.

Device: `FACE_PIPELINE_DEVICE=cuda` (carried by ModelFolders.device to every model) asks for ONNX
Runtime's CUDAExecutionProvider, which only the `onnxruntime-gpu` package has (`pip install
face_pipeline[gpu]`). When it is asked for and can not be had (the CPU package, no driver, a CUDA
library missing), the session runs on the CPU and one warning per process says why and what to do:
a run never fails, nor silently changes its answers, because of the device (the same model id gives
the same vectors within float rounding on either).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

DEVICES = ("cpu", "cuda")
CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"
#: Faces per network call, by device: a GPU only pays off with large batches; on a CPU, batches
#: beyond ~32 chips change nothing but the memory held (BENCHMARKS.md, ingest variants).
EMBED_BATCH = {"cpu": 32, "cuda": 256}

_session_threads: int | None = None  # None: every core of the machine
_warned: set[str] = set()


def set_session_threads(threads: int | None) -> None:
    """Threads of every session this process opens from now on (None: every core). The worker
    pool sets cores // workers in each worker before any model is used."""
    global _session_threads
    _session_threads = None if threads is None else max(1, int(threads))


def session_threads() -> int:
    return _session_threads or (os.cpu_count() or 1)


def threads_per_worker(workers: int) -> int:
    """Threads of each of `workers` processes so that workers x threads = the cores (at least 1)."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def cuda_available() -> bool:
    """Whether the installed ONNX Runtime has the CUDA provider (the `onnxruntime-gpu` package)."""
    import onnxruntime as ort

    return CUDA_PROVIDER in ort.get_available_providers()


def providers_for(device: str) -> list[str]:
    """The execution providers for `device`, CPU last (ONNX Runtime falls back to it for any node the
    GPU can not run). Asking for cuda without the provider warns once and gives the CPU alone."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {DEVICES}")
    if device == "cpu":
        return [CPU_PROVIDER]
    if cuda_available():
        return [CUDA_PROVIDER, CPU_PROVIDER]
    _warn_once(
        "no-provider",
        "FACE_PIPELINE_DEVICE=cuda, but this ONNX Runtime has no CUDA provider (the CPU "
        "package `onnxruntime` is installed, not `onnxruntime-gpu`): running on the CPU. For the GPU: "
        "`pip uninstall onnxruntime && pip install 'face_pipeline[gpu]'` on a machine with an NVIDIA "
        "driver and CUDA 12.",
    )
    return [CPU_PROVIDER]


def onnx_session(path: Path, device: str = "cpu"):
    """A session for `path` on `device`, with every graph optimisation on and this process's threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = session_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # no warnings about unused initialisers on stderr
    providers = providers_for(device)
    session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    if CUDA_PROVIDER in providers and CUDA_PROVIDER not in session.get_providers():
        # onnxruntime-gpu is installed but its CUDA libraries or the driver could not be loaded.
        _warn_once(
            "no-cuda",
            f"FACE_PIPELINE_DEVICE=cuda, but ONNX Runtime could not start CUDA for {path.name} "
            "(no NVIDIA driver, or CUDA 12 / cuDNN 9 libraries missing; ONNX Runtime's log says which): "
            "running on the CPU.",
        )
    return session


def session_device(session) -> str:
    """Where a session runs: "cuda" when the CUDA provider took it, else "cpu"."""
    return "cuda" if CUDA_PROVIDER in session.get_providers() else "cpu"


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message)
