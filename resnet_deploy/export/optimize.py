"""Graph clean-up after export: BN folding, constant folding/simplification, strict checks.

The exporters already fold most BatchNorms in eval mode, but that is their implementation
detail; `fold_batchnorm` makes it a guarantee of this project (a Conv followed by a BN whose
parameters are constants becomes one Conv), independent of which exporter ran.

Simplification uses onnxslim rather than onnxsim: onnxslim is pure Python (no C++ build, so
it installs wherever onnx does, on new Python versions first), keeps dynamic axes and names,
and does constant folding plus the fusions this graph needs (Identity/Flatten removal,
Conv+BN) quickly; onnxsim needs a native wheel that often lags new Python and onnx releases.
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import onnx
from onnx import numpy_helper

from resnet_deploy.errors import ArtifactError

log = logging.getLogger(__name__)


def fold_batchnorm(model: onnx.ModelProto) -> int:
    """Fold every `Conv -> BatchNormalization` pair with constant parameters (and a Conv
    output used only by the BN) into the Conv, in place. Returns the number folded."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    consumers: Counter[str] = Counter(name for node in graph.node for name in node.input)
    graph_outputs = {o.name for o in graph.output}
    producers = {out: node for node in graph.node for out in node.output}
    remove: list[onnx.NodeProto] = []
    folded = 0
    for bn in list(graph.node):
        if bn.op_type != "BatchNormalization" or len(bn.output) != 1:
            continue
        conv = producers.get(bn.input[0])
        if conv is None or conv.op_type != "Conv" or consumers[conv.output[0]] != 1 or conv.output[0] in graph_outputs:
            continue
        names = [conv.input[1], *bn.input[1:5]] + ([conv.input[2]] if len(conv.input) > 2 and conv.input[2] else [])
        if any(n not in inits for n in names):
            continue
        weight = numpy_helper.to_array(inits[conv.input[1]]).astype(np.float64)
        scale, beta, mean, var = (numpy_helper.to_array(inits[n]).astype(np.float64) for n in bn.input[1:5])
        eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
        bias = (numpy_helper.to_array(inits[conv.input[2]]).astype(np.float64)
                if len(conv.input) > 2 and conv.input[2] else np.zeros(weight.shape[0]))
        factor = scale / np.sqrt(var + eps)
        dtype = numpy_helper.to_array(inits[conv.input[1]]).dtype
        new_w = numpy_helper.from_array((weight * factor.reshape(-1, 1, 1, 1)).astype(dtype), f"{conv.name or conv.output[0]}.folded_weight")
        new_b = numpy_helper.from_array(((bias - mean) * factor + beta).astype(dtype), f"{conv.name or conv.output[0]}.folded_bias")
        graph.initializer.extend([new_w, new_b])
        inputs = [conv.input[0], new_w.name, new_b.name]
        del conv.input[:]
        conv.input.extend(inputs)
        conv.output[0] = bn.output[0]
        remove.append(bn)
        folded += 1
    for node in remove:
        graph.node.remove(node)
    if folded:
        _drop_unused_initializers(model)
    return folded


def _drop_unused_initializers(model: onnx.ModelProto) -> None:
    used = {name for node in model.graph.node for name in node.input} | {o.name for o in model.graph.output}
    keep = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)


def simplify(model: onnx.ModelProto) -> onnx.ModelProto:
    """Constant folding and graph simplification with onnxslim (dynamic axes kept)."""
    import onnxslim

    slimmed = onnxslim.slim(model)
    if not isinstance(slimmed, onnx.ModelProto):  # pragma: no cover - onnxslim returns None on failure
        raise ArtifactError("onnxslim could not simplify the model; export again without simplifying (`simplify` off)")
    return slimmed


def name_batch_axis(model: onnx.ModelProto, name: str = "batch") -> None:
    """Give the dynamic leading axis of every input and output the same symbolic name, so
    tools (TensorRT profiles, onnxruntime) see one batch dimension, not s0/s77/batch."""
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = name


def check_strict(model: onnx.ModelProto) -> onnx.ModelProto:
    """onnx.checker (full) and strict shape inference with type checks; returns the model
    with inferred value_info. An exported model that fails these is a bug, said clearly."""
    try:
        onnx.checker.check_model(model, full_check=True)
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ArtifactError(f"the exported model fails onnx.checker / strict shape inference: {first}") from exc


def op_histogram(model: onnx.ModelProto) -> dict[str, int]:
    return dict(Counter(node.op_type for node in model.graph.node).most_common())
