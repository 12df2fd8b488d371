"""Read a model's precision from its ONNX graph, never from a flag or a file name.

TensorRT builds strongly typed networks, so the graph decides: QuantizeLinear/
DequantizeLinear nodes feeding convolutions mean INT8 (or FP8 when the quantized weights are
FLOAT8E4M3FN), FP16 or BF16 convolution weights mean FP16 or BF16, otherwise FP32.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import onnx
from onnx import TensorProto

COMPUTE_OPS = ("Conv", "Gemm", "MatMul", "ConvTranspose")
_FP8_TYPES = frozenset({TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E4M3FNUZ, TensorProto.FLOAT8E5M2,
                        TensorProto.FLOAT8E5M2FNUZ})


@dataclass(frozen=True)
class GraphPrecision:
    precision: str  # "fp32", "fp16", "bf16", "int8" or "fp8"
    compute_nodes: int
    quantized_compute_nodes: int
    fp16_compute_nodes: int
    qdq_nodes: int
    unquantized: tuple[str, ...] = field(default_factory=tuple)  # compute nodes left in float
    bf16_compute_nodes: int = 0
    fp8_compute_nodes: int = 0  # of the quantized ones, those whose weights are FP8 E4M3


def _weight_dtypes(model: onnx.ModelProto) -> dict[str, int]:
    return {init.name: init.data_type for init in model.graph.initializer}


def detect_precision(model: onnx.ModelProto | str) -> GraphPrecision:
    """Classify the model: "int8" if most compute nodes read dequantized inputs, "fp16" if
    most have FP16 weights, else "fp32"."""
    if isinstance(model, str):
        model = onnx.load(model, load_external_data=False)
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    weights = _weight_dtypes(model)
    # A Cast node between an initializer and the op (fp16 weights feeding an fp32 op) still counts as fp16.
    ops = Counter(node.op_type for node in graph.node)
    compute = [n for n in graph.node if n.op_type in COMPUTE_OPS]
    quantized, fp16, bf16, fp8, unquantized = 0, 0, 0, 0, []
    for node in compute:
        weight_name = node.input[1] if len(node.input) > 1 else ""
        producer = producers.get(weight_name)
        from_dq = producer is not None and producer.op_type == "DequantizeLinear"
        data_producer = producers.get(node.input[0])
        if from_dq and data_producer is not None and data_producer.op_type == "DequantizeLinear":
            quantized += 1
            fp8 += producer is not None and weights.get(producer.input[0], 0) in _FP8_TYPES
            continue
        if weights.get(weight_name) == TensorProto.FLOAT16:
            fp16 += 1
            continue
        if weights.get(weight_name) == TensorProto.BFLOAT16:
            bf16 += 1
            continue
        unquantized.append(node.name or f"{node.op_type}:{node.output[0]}")
    total = len(compute)
    qdq = ops["QuantizeLinear"] + ops["DequantizeLinear"]
    if total and quantized * 2 > total:
        precision = "fp8" if fp8 * 2 > quantized else "int8"
    elif total and fp16 * 2 > total:
        precision = "fp16"
    elif total and bf16 * 2 > total:
        precision = "bf16"
    else:
        precision = "fp32"
    return GraphPrecision(precision, total, quantized, fp16, qdq, tuple(unquantized), bf16, fp8)
