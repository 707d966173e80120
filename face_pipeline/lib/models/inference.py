"""ONNX Runtime sessions, one per model file and process."""

from __future__ import annotations

import multiprocessing
from pathlib import Path


def onnx_session(path: Path):
    """A CPU session for `path`. Inside an ingest worker process (one per core) it uses one thread:
    the parallelism is across photos; a lone process (a lookup, a small event) uses every core."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if multiprocessing.parent_process() is not None:
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
    options.log_severity_level = 3  # no warnings about unused initialisers on stderr
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
