"""Make a dynamic-size copy of the scrfd 0.3.0 SCRFD-2.5G export (fixed 1x3x640x640).

The export hard-codes two things to 640x640: the graph input/output shapes, and the `sizes` input of
its two FPN upsampling Resize nodes ([1,24,40,40] and [1,24,80,80]). We replace those `sizes` by
`scales` = [1, 1, 2, 2] (exactly what they are at 640) and make the H/W input dims and the anchor
output dims symbolic. Weights are untouched. Input sides must be multiples of 32.

Needs the `onnx` package (an install-time tool only; not needed at inference).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper


def convert(onnx_bytes: bytes) -> bytes:
    """The dynamic-size model, serialised deterministically."""
    model = onnx.load_from_string(onnx_bytes)
    g = model.graph
    scales_name = "fpn_upsample_scales_x2"
    g.initializer.append(numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), scales_name))
    n_resize = 0
    dropped: set[str] = set()
    for node in g.node:
        if node.op_type == "Resize" and len(node.input) == 4:
            # inputs: X, roi, scales, sizes  ->  X, roi, scales=[1,1,2,2]  (sizes dropped)
            x, roi = node.input[0], node.input[1]
            dropped.add(node.input[3])
            del node.input[:]
            node.input.extend([x, roi, scales_name])
            n_resize += 1
    if n_resize != 2:
        raise RuntimeError(f"expected 2 Resize nodes with sizes, patched {n_resize}")
    still_used = {i for node in g.node for i in node.input}
    keep = [t for t in g.initializer if t.name not in dropped or t.name in still_used]
    del g.initializer[:]
    g.initializer.extend(keep)
    inp = g.input[0].type.tensor_type.shape.dim
    inp[2].ClearField("dim_value")
    inp[2].dim_param = "height"
    inp[3].ClearField("dim_value")
    inp[3].dim_param = "width"
    for out in g.output:
        d = out.type.tensor_type.shape.dim
        d[1].ClearField("dim_value")
        d[1].dim_param = f"{out.name}_anchors"
    # drop stale intermediate shape annotations
    del g.value_info[:]
    onnx.checker.check_model(model)
    return model.SerializeToString(deterministic=True)
