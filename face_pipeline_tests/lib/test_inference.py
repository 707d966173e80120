"""Where and how the ONNX models run: FACE_PIPELINE_DEVICE (cpu, or cuda with a clear fallback on a
machine without it, as this one is), and threads per worker so that workers x threads = cores."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

from face_pipeline.lib.bundled_files import demo_dir
from face_pipeline.lib.ingest.worker_pool import discard_worker_pool, worker_pool
from face_pipeline.lib.models import find_faces, get_detector, get_embedder, inference
from face_pipeline.lib.photos.decode import load_rgb
from face_pipeline.lib.settings import Settings

PORTRAIT = demo_dir() / "reference" / "mastracchio_portrait.jpg"


def test_the_device_setting_defaults_to_the_cpu_and_reaches_every_model(tmp_path):
    assert Settings.from_env({}, data_dir=tmp_path).device == "cpu"
    cuda = Settings.from_env({"FACE_PIPELINE_DEVICE": "cuda"}, data_dir=tmp_path)
    assert cuda.model_folders.device == "cuda"
    assert get_embedder("facenet-v1", cuda.model_folders).device == "cuda"
    assert get_embedder("facenet-v1", cuda.model_folders).batch_size > get_embedder("facenet-v1").batch_size
    assert get_detector("retinaface-mnet025", cuda.model_folders).device == "cuda"
    # the device never changes what is stored: same model ids
    assert get_embedder("facenet-v1", cuda.model_folders).model_id == get_embedder("facenet-v1").model_id


@pytest.mark.skipif(inference.cuda_available(), reason="this machine has the CUDA provider")
def test_cuda_asked_for_without_it_warns_once_and_runs_on_the_cpu_with_the_same_vectors(tmp_path, caplog):
    inference._warned.clear()
    settings = Settings.from_env({"FACE_PIPELINE_DEVICE": "cuda"}, data_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="face_pipeline.lib.models.inference"):
        gpu = get_embedder("facenet-v1", settings.model_folders)
        rgb = load_rgb(PORTRAIT).rgb
        (face,) = find_faces(rgb, get_detector("retinaface-mnet025", settings.model_folders))
        got = gpu.embed([gpu.crop(rgb, face)])
        inference.onnx_session(gpu.onnx_path, "cuda")  # a second session: no second warning
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "FACE_PIPELINE_DEVICE=cuda" in warnings[0] and "running on the CPU" in warnings[0]
    assert "face_pipeline[gpu]" in warnings[0]
    assert inference.session_device(gpu._net[0]) == "cpu"
    cpu = get_embedder("facenet-v1")
    np.testing.assert_allclose(got, cpu.embed([cpu.crop(rgb, face)]), atol=1e-6)


def test_an_unknown_device_is_refused_by_the_runtime_as_well():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        inference.providers_for("tpu")


def test_workers_times_threads_is_the_cores():
    cores = os.cpu_count() or 1
    for workers in (1, 2, 3, cores, 2 * cores):
        threads = inference.threads_per_worker(workers)
        assert threads >= 1 and (workers * threads <= cores or threads == 1)
    assert inference.threads_per_worker(1) == cores


def test_each_pool_worker_opens_its_sessions_with_its_share_of_the_cores():
    workers = 2
    try:
        seen = {worker_pool(workers).submit(inference.session_threads).result() for _ in range(4)}
    finally:
        discard_worker_pool()
    assert seen == {inference.threads_per_worker(workers)}
