"""Mixed-precision BF16: an FP32 ONNX model with its compute in bfloat16, for TensorRT's
strongly typed builds (BF16 layers come from BF16 tensors in the graph, as FP16 ones do).

The conversion follows the FP16 one exactly (precision/fp16.py, FP32_RULE: the same nodes stay
FP32, graph inputs and outputs FP32 unless asked), run by the same converter
(onnxruntime.transformers.float16), then retyped: every FLOAT16 tensor, value and Cast target
becomes BFLOAT16, and weights are rounded to BF16 from their FP32 values (not from the FP16
copy). One FP16 rule does not apply: BF16 has FP32's exponent range, so no weight is too
large for it.

Running it: onnxruntime's CPU provider has no BF16 convolution, so it refuses such a model;
OpenVINO reads it (and computes in BF16 on CPUs with avx512_bf16/AMX, else in FP32), which is
how `validate` and `accuracy` check it on a CPU. For an FP32 model on a BF16-capable CPU the
faster route is a run precision instead (`--precision bf16` on openvino or torch).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence

import ml_dtypes
import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from resnet_deploy.export.metadata import set_metadata
from resnet_deploy.precision._model import (
    load_source,
    output_meta,
    prepare_output,
    require_fp32,
    write_model,
)
from resnet_deploy.precision.fp16 import FP32_RULE, mixed_precision_graph
from resnet_deploy.precision.result import QuantizeResult

log = logging.getLogger(__name__)

BF16_FP32_RULE = FP32_RULE.replace("; nodes with weights outside the FP16 range", "")


def _retype_value(value: onnx.ValueInfoProto) -> None:
    tensor_type = value.type.tensor_type
    if tensor_type.elem_type == TensorProto.FLOAT16:
        tensor_type.elem_type = TensorProto.BFLOAT16


def _bf16_tensor(tensor: TensorProto, original: TensorProto | None) -> TensorProto:
    """`tensor` (FLOAT16) as BFLOAT16, rounded from the FP32 original when there is one."""
    source = numpy_helper.to_array(original) if original is not None else numpy_helper.to_array(tensor)
    return numpy_helper.from_array(source.astype(np.float32).astype(ml_dtypes.bfloat16), tensor.name)


def retype_fp16_as_bf16(model: onnx.ModelProto, originals: dict[str, TensorProto]) -> int:
    """Turn every FLOAT16 in a converted graph into BFLOAT16 (in place): initializers (from
    `originals`, the FP32 initializers by name), Constant values, Cast targets, graph inputs,
    outputs and value infos. Returns how many initializers were retyped."""
    graph = model.graph
    retyped = 0
    for index, init in enumerate(graph.initializer):
        if init.data_type == TensorProto.FLOAT16:
            graph.initializer[index].CopyFrom(_bf16_tensor(init, originals.get(init.name)))
            retyped += 1
    for node in graph.node:
        for attribute in node.attribute:
            if node.op_type == "Cast" and attribute.name == "to" and attribute.i == TensorProto.FLOAT16:
                attribute.i = TensorProto.BFLOAT16
            elif attribute.type == onnx.AttributeProto.TENSOR and attribute.t.data_type == TensorProto.FLOAT16:
                attribute.t.CopyFrom(_bf16_tensor(attribute.t, None))
    for value in (*graph.input, *graph.output, *graph.value_info):
        _retype_value(value)
    return retyped


def convert_bf16(input_path: str | os.PathLike[str], output_path: str | os.PathLike[str] | None = None, *,
                 keep_io_types: bool = True, block_ops: Sequence[str] | None = None,
                 keep_classifier_fp32: bool = True) -> QuantizeResult:
    """Write a mixed-precision BF16 copy of an FP32 ONNX model (see the module docstring):
    the nodes FP16 keeps in FP32 stay FP32 here too, except for the FP16 range rule."""
    start = time.perf_counter()
    source = load_source(input_path)
    require_fp32(source, "BF16 conversion")
    output = prepare_output(source, output_path, "bf16")
    converted, fp32_nodes = mixed_precision_graph(source.model, keep_io_types=keep_io_types, block_ops=block_ops,
                                                  keep_classifier_fp32=keep_classifier_fp32, range_rule=False)
    originals = {init.name: init for init in source.model.graph.initializer if init.data_type == TensorProto.FLOAT}
    retyped = retype_fp16_as_bf16(converted, originals)
    io_dtype = "float32" if keep_io_types else "bfloat16"
    set_metadata(converted, {"precision": "bf16", "bf16_io_dtype": io_dtype, "bf16_fp32_nodes": ",".join(fp32_nodes),
                             "source_sha256": source.sha256})
    seconds = time.perf_counter() - start
    details = {"io_dtype": io_dtype, "fp32_nodes": fp32_nodes, "fp32_rule": BF16_FP32_RULE,
               "bf16_initializers": retyped,
               "converter": "onnxruntime.transformers.float16, retyped FLOAT16 -> BFLOAT16 (weights from FP32)"}
    sidecar = write_model(output, converted, output_meta(source, "bf16", **details))
    log.info("BF16 model %s written (%d nodes kept FP32) in %.1f s", output, len(fp32_nodes), seconds)
    return QuantizeResult(output, sidecar, "bf16", source.path, source.sha256, seconds, details)
