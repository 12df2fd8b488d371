"""Mixed-precision FP16: convert an FP32 ONNX model, keeping a documented set of nodes FP32.

TensorRT builds strongly typed networks, so an FP16 engine comes from an FP16 ONNX model
(README, "Design choices"). The conversion is onnxruntime's own `onnxruntime.transformers.float16` (the
same converter as onnxconverter-common, shipped inside the onnxruntime wheel we already
depend on, so no new package and no version skew between converter and runtime).

The rule for what stays FP32 (FP32_RULE, also in docs/precision.md):
1. the graph's inputs and outputs (Cast nodes at the edges), unless io fp16 is asked for;
2. ops that are numerically unsafe in FP16 (exp/log/pow, reductions, softmax, normalization,
   division) and ops onnxruntime has no FP16 kernel for (onnxruntime's DEFAULT_OP_BLOCK_LIST);
3. the classifier: the last Gemm/MatMul before a graph output. It is <0.1% of a ResNet's
   MACs, and its logits decide the ranking, so FP32 costs nothing and removes ties;
4. any node with a weight outside FP16's finite range (|w| > 65504): FP16 would clamp it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
from collections.abc import Iterable, Sequence

import numpy as np
import onnx
from onnx import numpy_helper

from resnet_deploy.export.metadata import set_metadata
from resnet_deploy.precision._model import (
    load_source,
    output_meta,
    prepare_output,
    require_fp32,
    topological_sort,
    write_model,
)
from resnet_deploy.precision.result import QuantizeResult

log = logging.getLogger(__name__)

# Numerically unsafe in FP16: large dynamic range, accumulation over many elements, or a
# division/exponent that over- or underflows.
FP16_UNSAFE_OPS: tuple[str, ...] = (
    "Softmax", "LogSoftmax", "Exp", "Log", "Pow", "Sqrt", "Reciprocal", "Div", "Erf",
    "ReduceSum", "ReduceMean", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare",
    "ReduceProd", "BatchNormalization", "InstanceNormalization", "LayerNormalization", "GroupNormalization",
    "LpNormalization", "Resize",
)
FP16_MAX = 65504.0
FP32_RULE = ("graph inputs/outputs FP32 unless io fp16; FP16-unsafe ops (softmax, exp/log/pow, reductions, "
             "normalization, division) and ops without FP16 kernels; the final classifier Gemm/MatMul; "
             "nodes with weights outside the FP16 range")


def default_block_ops() -> tuple[str, ...]:
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST

    return tuple(dict.fromkeys([*FP16_UNSAFE_OPS, *DEFAULT_OP_BLOCK_LIST]))


def classifier_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the Gemm/MatMul nodes that produce a graph output, looking through
    shape-only and elementwise ops (Reshape, Flatten, Identity, Cast, Add for a bias)."""
    producers = {out: node for node in model.graph.node for out in node.output}
    passthrough = {"Reshape", "Flatten", "Identity", "Cast", "Squeeze", "Unsqueeze", "Add"}
    found: list[str] = []
    for output in model.graph.output:
        node = producers.get(output.name)
        while node is not None and node.op_type in passthrough:
            node = producers.get(node.input[0])
        if node is not None and node.op_type in ("Gemm", "MatMul") and node.name:
            found.append(node.name)
    return found


def _overflowing_nodes(model: onnx.ModelProto) -> list[str]:
    big = {init.name for init in model.graph.initializer
           if init.data_type == onnx.TensorProto.FLOAT and np.abs(numpy_helper.to_array(init)).max(initial=0.0) > FP16_MAX}
    return [n.name for n in model.graph.node if n.name and any(i in big for i in n.input)]


def _name_nodes(model: onnx.ModelProto) -> None:
    """The converter blocks nodes by name: give unnamed nodes a unique one."""
    used = {n.name for n in model.graph.node if n.name}
    for index, node in enumerate(model.graph.node):
        if not node.name:
            name = f"{node.op_type}_{index}"
            while name in used:
                name += "_"
            node.name = name
            used.add(name)


def mixed_precision_graph(source: onnx.ModelProto, *, keep_io_types: bool = True, block_ops: Sequence[str] | None = None,
                          keep_classifier_fp32: bool = True, block_nodes: Iterable[str] = (),
                          range_rule: bool = True) -> tuple[onnx.ModelProto, list[str]]:
    """The FP16 graph of an FP32 model by FP32_RULE (`range_rule`: keep nodes whose weights
    overflow FP16 in FP32; BF16 turns it off), and the names of the nodes kept FP32."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.ModelProto()
    model.CopyFrom(source)
    _name_nodes(model)
    ops = tuple(block_ops) if block_ops is not None else default_block_ops()
    kept = set(block_nodes) | (set(_overflowing_nodes(model)) if range_rule else set())
    if keep_classifier_fp32:
        kept |= set(classifier_nodes(model))
    kept_by_op = [n.name for n in model.graph.node if n.op_type in ops]
    # The converter prints shape-inference chatter; keep library output in the log.
    chatter = io.StringIO()
    with contextlib.redirect_stdout(chatter):
        converted = convert_float_to_float16(model, keep_io_types=keep_io_types, op_block_list=list(ops),
                                             node_block_list=sorted(kept), disable_shape_infer=False)
    if chatter.getvalue().strip():
        log.debug("float16 converter: %s", chatter.getvalue().strip())
    topological_sort(converted)
    return converted, sorted(set(kept) | set(kept_by_op))


def convert_fp16(input_path: str | os.PathLike[str], output_path: str | os.PathLike[str] | None = None, *,
                 keep_io_types: bool = True, block_ops: Sequence[str] | None = None,
                 keep_classifier_fp32: bool = True, block_nodes: Iterable[str] = ()) -> QuantizeResult:
    """Write a mixed-precision FP16 copy of an FP32 ONNX model (see the module docstring for
    which nodes stay FP32). `block_ops` replaces the default unsafe-op list; `block_nodes`
    adds node names. Returns where it went and which nodes stayed FP32."""
    start = time.perf_counter()
    source = load_source(input_path)
    require_fp32(source, "FP16 conversion")
    output = prepare_output(source, output_path, "fp16")
    converted, fp32_nodes = mixed_precision_graph(source.model, keep_io_types=keep_io_types, block_ops=block_ops,
                                                  keep_classifier_fp32=keep_classifier_fp32, block_nodes=block_nodes)
    io_dtype = "float32" if keep_io_types else "float16"
    set_metadata(converted, {"precision": "fp16", "fp16_io_dtype": io_dtype, "fp16_fp32_nodes": ",".join(fp32_nodes),
                          "source_sha256": source.sha256})
    seconds = time.perf_counter() - start
    details = {"io_dtype": io_dtype, "fp32_nodes": fp32_nodes, "fp32_rule": FP32_RULE,
               "converter": "onnxruntime.transformers.float16"}
    sidecar = write_model(output, converted, output_meta(source, "fp16", **details))
    log.info("FP16 model %s written (%d nodes kept FP32) in %.1f s", output, len(fp32_nodes), seconds)
    return QuantizeResult(output, sidecar, "fp16", source.path, source.sha256, seconds, details)
