"""A tiny stand-in for imgbeddings' CLIP ONNX file, made at test time.

The real weights come from a model hub, which these machines can not reach. This model has the same
interface (input `pixel_values` [N, 3, 224, 224], output `embeddings` [N, 768]), so the real
imgbeddings + CLIPImageProcessor loading and batching code runs unchanged: it averages 4x4 colour
patches and projects them with a fixed random matrix.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def make_tiny_clip(folder: Path, dim: int = 768, seed: int = 0) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    proj = rng.standard_normal((3 * 16, dim)).astype(np.float32)
    nodes = [
        # [N,3,224,224] -> average pool 56x56 -> [N,3,4,4] -> [N,48] -> [N,dim]
        helper.make_node("AveragePool", ["pixel_values"], ["pooled"], kernel_shape=[56, 56], strides=[56, 56]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "proj"], ["embeddings"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_clip",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["N", dim])],
        [numpy_helper.from_array(proj, "proj")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, folder / "patch32_v1.onnx")
    (folder / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "crop_size": {"height": 224, "width": 224},
                "do_center_crop": True,
                "do_normalize": True,
                "do_resize": True,
                "do_rescale": True,
                "rescale_factor": 1 / 255,
                "do_convert_rgb": True,
                "image_mean": CLIP_MEAN,
                "image_std": CLIP_STD,
                "resample": 3,
                "size": {"shortest_edge": 224},
                "image_processor_type": "CLIPImageProcessor",
            }
        )
    )
    (folder / "face_pipeline_model.json").write_text(json.dumps({"model_id": f"clip-imgbeddings-tiny-test-{seed}"}))
    return folder
