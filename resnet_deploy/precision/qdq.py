"""Q/DQ placement for TensorRT's explicit quantization, and a walker that checks it.

NVIDIA's Q/DQ placement recommendations (TensorRT developer guide, "Explicit Quantization"):
quantize every input of weighted ops (Conv, Gemm/MatMul: activation per tensor, weights per
output channel, signed symmetric INT8 with zero point 0), leave their outputs in float so
TensorRT fuses bias, activation and the residual Add into the convolution, and quantize
BOTH inputs of a residual Add so the fused Conv+Add runs in INT8 as well. Biases stay FP32.

The inserter writes weights as INT8 initializers feeding a DequantizeLinear (TensorRT's
preferred form: the constant-folded Q of a weight) and one shared Q/DQ pair per activation
tensor. Consumers that are not quantization targets keep reading the float tensor.

FP8 (E4M3, ONNX FLOAT8E4M3FN, opset 19+) uses the same placement, which is where TensorRT
fuses FP8 Q/DQ too: the format changes the quantized type, its largest value (448 instead
of 127) and the zero points' type, nothing else (QDQ_FORMATS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from resnet_deploy.errors import InvalidInputError

WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
INT8_MAX = 127.0
FP8_E4M3_MAX = 448.0  # the largest finite E4M3FN value


@dataclass(frozen=True)
class QdqFormat:
    """A quantized type for TensorRT Q/DQ: its ONNX element type, its largest magnitude, the
    numpy dtype its values are written in, and the opset it needs."""

    name: str
    onnx_type: int
    max_value: float
    min_opset: int

    def numpy_dtype(self) -> np.dtype[Any]:
        if self.onnx_type == TensorProto.FLOAT8E4M3FN:
            import ml_dtypes

            return np.dtype(ml_dtypes.float8_e4m3fn)
        return np.dtype(np.int8)

    def quantize(self, values: np.ndarray, limit: float) -> np.ndarray:
        """`values` (already divided by the scale) clipped to +-limit in this type (rounded
        to nearest: integer rounding for INT8, the E4M3 grid for FP8)."""
        clipped = np.clip(values, -limit, limit)
        if self.onnx_type == TensorProto.INT8:
            clipped = np.round(clipped)
        return clipped.astype(self.numpy_dtype())


QDQ_FORMATS = {"int8": QdqFormat("int8", TensorProto.INT8, INT8_MAX, 13),
               "fp8": QdqFormat("fp8", TensorProto.FLOAT8E4M3FN, FP8_E4M3_MAX, 19)}


def _weight_axis(node: onnx.NodeProto) -> int:
    """The output-channel axis of the node's weight (input 1)."""
    if node.op_type == "Gemm":
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1
    if node.op_type == "MatMul":
        return 1
    if node.op_type == "ConvTranspose":
        return 1
    return 0


def _constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    values = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def insertion_targets(model: onnx.ModelProto, exclude: frozenset[str] = frozenset()
                      ) -> tuple[dict[str, list[tuple[int, int]]], dict[str, int]]:
    """Which (node index, input index) read a quantized activation, keyed by tensor name,
    and which weights to quantize (name -> channel axis). Nodes named in `exclude` are
    left in float (their inputs get no Q/DQ; a weight shared with a quantized node is)."""
    constants = _constants(model)
    acts: dict[str, list[tuple[int, int]]] = {}
    weights: dict[str, int] = {}
    for index, node in enumerate(model.graph.node):
        if node.name and node.name in exclude:
            continue
        if node.op_type in WEIGHTED_OPS:
            if len(node.input) < 2 or node.input[1] not in constants or node.input[0] in constants:
                continue  # a MatMul of two activations, or a weight computed at run time: left in float
            acts.setdefault(node.input[0], []).append((index, 0))
            weights[node.input[1]] = _weight_axis(node)
        elif node.op_type == "Add" and len(node.input) == 2 and not any(i in constants for i in node.input):
            for slot, name in enumerate(node.input):  # the residual Add: both inputs
                acts.setdefault(name, []).append((index, slot))
    return acts, weights


def _scalar(name: str, value: float | int, dtype: int) -> TensorProto:
    return helper.make_tensor(name, dtype, [], [value])


def insert_qdq_tensorrt(model: onnx.ModelProto, ranges: dict[str, tuple[float, float]], *,
                        weight_max: float | None = None, fmt: str = "int8",
                        exclude: frozenset[str] = frozenset()) -> onnx.ModelProto:
    """A copy of `model` with TensorRT-style Q/DQ nodes (see the module docstring) in format
    `fmt` (int8 or fp8). `weight_max` is the largest |quantized weight|: by default the
    format's largest value; 64 for INT8 on CPUs whose INT8 sums saturate (cpu_isa.py). FP8
    needs opset 19: the caller converts the model first (precision/fp8.py). Nodes named in
    `exclude` keep float inputs: in a strongly typed TensorRT network they run in FP32
    (precision/exclude.py)."""
    form = QDQ_FORMATS[fmt]
    weight_max = form.max_value if weight_max is None else weight_max
    if not 1 <= weight_max <= form.max_value:
        raise ValueError(f"weight_max must be in 1..{form.max_value:g}, got {weight_max}")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < form.min_opset:
        raise InvalidInputError(f"per-channel {fmt.upper()} Q/DQ needs ONNX opset {form.min_opset} or newer, the model "
                                f"has opset {opset}", param="input_path")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    acts, weights = insertion_targets(out, exclude)
    constants = _constants(out)
    used_names = {n for node in graph.node for n in (*node.input, *node.output)} | {i.name for i in graph.initializer}

    def unique(base: str) -> str:
        name, n = base, 0
        while name in used_names:
            n += 1
            name = f"{base}_{n}"
        used_names.add(name)
        return name

    new_inits: list[TensorProto] = []
    # Weights: INT8 per-channel initializer -> DequantizeLinear.
    weight_dq: dict[str, tuple[onnx.NodeProto, str]] = {}
    for name, axis in weights.items():
        w = constants[name].astype(np.float32)
        reduce_axes = tuple(a for a in range(w.ndim) if a != axis)
        amax = np.abs(w).max(axis=reduce_axes) if reduce_axes else np.abs(w)
        scale = np.where(amax > 0, amax / weight_max, 1.0).astype(np.float32)
        shape = [1] * w.ndim
        shape[axis] = -1
        q = form.quantize(w / scale.reshape(shape), weight_max)
        q_name, s_name, z_name = unique(f"{name}_{fmt}"), unique(f"{name}_scale"), unique(f"{name}_zero_point")
        new_inits += [numpy_helper.from_array(q, q_name), numpy_helper.from_array(scale, s_name),
                      numpy_helper.from_array(np.zeros(scale.shape, form.numpy_dtype()), z_name)]
        dq_out = unique(f"{name}_dequantized")
        weight_dq[name] = (helper.make_node("DequantizeLinear", [q_name, s_name, z_name], [dq_out],
                                            name=unique(f"{name}_DequantizeLinear"), axis=axis), dq_out)
    # Activations: one shared QuantizeLinear -> DequantizeLinear pair per tensor.
    act_qdq: dict[str, tuple[list[onnx.NodeProto], str]] = {}
    for name in acts:
        if name not in ranges:
            raise InvalidInputError(f"no calibration range for tensor '{name}'; the calibration cache does not match this model",
                                    param="cache_path")
        lo, hi = ranges[name]
        act_max = max(abs(lo), abs(hi))
        act_scale = act_max / form.max_value if act_max > 0 else 1.0
        s_name, z_name = unique(f"{name}_scale"), unique(f"{name}_zero_point")
        new_inits += [_scalar(s_name, act_scale, TensorProto.FLOAT),
                      numpy_helper.from_array(np.zeros((), form.numpy_dtype()), z_name)]
        q_out, dq_out = unique(f"{name}_quantized"), unique(f"{name}_dequantized")
        nodes = [helper.make_node("QuantizeLinear", [name, s_name, z_name], [q_out], name=unique(f"{name}_QuantizeLinear")),
                 helper.make_node("DequantizeLinear", [q_out, s_name, z_name], [dq_out], name=unique(f"{name}_DequantizeLinear"))]
        act_qdq[name] = (nodes, dq_out)

    # Rebuild the node list in topological order: each Q/DQ pair right before its first reader.
    emitted: set[str] = set()
    new_nodes: list[onnx.NodeProto] = []
    originals = list(graph.node)
    for index, node in enumerate(originals):
        for slot, name in enumerate(node.input):
            if (index, slot) in acts.get(name, []):
                nodes, dq_out = act_qdq[name]
                if name not in emitted:
                    new_nodes.extend(nodes)
                    emitted.add(name)
                node.input[slot] = dq_out
            elif slot == 1 and node.op_type in WEIGHTED_OPS and name in weight_dq and node.name not in exclude:
                dq_node, dq_out = weight_dq[name]
                if name not in emitted:
                    new_nodes.append(dq_node)
                    emitted.add(name)
                node.input[slot] = dq_out
        new_nodes.append(node)
    del graph.node[:]
    graph.node.extend(new_nodes)
    still_used = {n for node in graph.node for n in node.input}
    kept = [init for init in graph.initializer if init.name in still_used]
    del graph.initializer[:]
    graph.initializer.extend(kept + new_inits)
    # Constant nodes whose float weights were replaced are now dead.
    live = [n for n in graph.node if n.op_type != "Constant" or n.output[0] in still_used]
    del graph.node[:]
    graph.node.extend(live)
    return out


@dataclass(frozen=True)
class Placement:
    """What a Q/DQ graph walk found (tests and `inspect` use it)."""

    weighted: int  # Conv/Gemm nodes with constant weights
    weighted_quantized: int  # ... whose activation and weight both come from DequantizeLinear
    per_channel_weights: int
    residual_adds: int
    residual_adds_quantized: int  # Adds whose both inputs come from DequantizeLinear
    signed_symmetric: bool  # every zero point is of the format's type (INT8 or FP8 E4M3) and 0
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_tensorrt_placement(model: onnx.ModelProto, fmt: str = "int8",
                             exclude: frozenset[str] = frozenset()) -> Placement:
    """Walk the graph: every Conv/Gemm input and both inputs of every residual Add must be
    fed by a DequantizeLinear, weights per channel, all zero points zeros of the format's
    type (signed INT8, or FP8 E4M3). Nodes named in `exclude` were kept in float on purpose
    and are not counted."""
    zero_type = QDQ_FORMATS[fmt].onnx_type
    producers = {out: node for node in model.graph.node for out in node.output}
    inits = {init.name: init for init in model.graph.initializer}
    problems: list[str] = []

    def dq_of(name: str) -> onnx.NodeProto | None:
        node = producers.get(name)
        return node if node is not None and node.op_type == "DequantizeLinear" else None

    weighted = weighted_q = per_channel = adds = adds_q = 0
    for node in model.graph.node:
        if node.name and node.name in exclude:
            continue
        if node.op_type in WEIGHTED_OPS:
            weight_dq = dq_of(node.input[1])
            if weight_dq is None and node.input[1] not in inits:
                continue
            weighted += 1
            act_dq = dq_of(node.input[0])
            if weight_dq is not None and act_dq is not None:
                weighted_q += 1
                scale = inits.get(weight_dq.input[1])
                if scale is not None and len(scale.dims) == 1 and scale.dims[0] > 1:
                    per_channel += 1
                else:
                    problems.append(f"{node.name}: weight is not quantized per channel")
            else:
                problems.append(f"{node.name}: {'activation' if act_dq is None else 'weight'} input has no DequantizeLinear")
        elif node.op_type == "Add" and len(node.input) == 2 and not any(i in inits for i in node.input):
            adds += 1
            if all(dq_of(i) is not None for i in node.input):
                adds_q += 1
            else:
                problems.append(f"{node.name}: residual Add input without Q/DQ")
    signed = True
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            zp = inits.get(node.input[2]) if len(node.input) > 2 else None
            if zp is None or zp.data_type != zero_type or np.any(numpy_helper.to_array(zp).astype(np.float32) != 0):
                signed = False
    if not signed:
        problems.append(f"some zero points are not {fmt.upper()} zeros")
    return Placement(weighted, weighted_q, per_channel, adds, adds_q, signed, tuple(problems))
