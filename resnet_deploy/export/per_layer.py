"""Per-layer comparison: find the first layer where onnxruntime and PyTorch diverge.

What Polygraphy's bisecting does for users, for ResNets. Every Conv/Gemm/MatMul output of
the ONNX graph is exposed as an extra graph output, every Conv2d/Linear of the PyTorch model
is hooked, and the two are paired by their WEIGHTS, not by names or order: exporters rename
nodes, simplifiers reorder them, and BN folding merges two modules into one node. After
folding, an ONNX Conv's weight is the PyTorch conv weight times gamma/sqrt(var+eps) of the
BatchNorm that consumes it, so its output corresponds to that BatchNorm's output (the conv
alone when no BN follows it, as in pre-activation blocks). Weights feeding a node through
Cast (FP16) or DequantizeLinear (INT8 Q/DQ) are decoded first, so FP16 and INT8 models pair
too; a pair is accepted when the weights agree to 5% (relative L2), the closest one wins,
and ties go to execution order. Layers are then compared in PyTorch execution order and the
first one outside tolerance is reported.

Intermediate activations grow with depth in an untrained ResNet, so the absolute tolerance
of a layer is scaled by its reference RMS (at least 1): a layer with values in the hundreds
is judged like logits near 1. Cosine limits apply unscaled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper
from torch import nn

from resnet_deploy.compare import OutputComparison, Tolerance, compare_outputs
from resnet_deploy.errors import InvalidInputError

log = logging.getLogger(__name__)

COMPUTE_OPS = ("Conv", "Gemm", "MatMul")
MATCH_LIMIT = 0.05  # relative L2 distance under which two weights are "the same layer"


@dataclass(frozen=True)
class LayerComparison:
    order: int  # PyTorch execution order
    torch_module: str  # e.g. "layer2.0.conv1+bn1"
    onnx_node: str
    onnx_tensor: str
    op: str
    weight_distance: float
    comparison: OutputComparison

    def to_dict(self) -> dict[str, Any]:
        return {"order": self.order, "torch_module": self.torch_module, "onnx_node": self.onnx_node,
                "onnx_tensor": self.onnx_tensor, "op": self.op, "weight_distance": self.weight_distance,
                **{k: v for k, v in self.comparison.to_dict().items() if k != "name"}}


@dataclass
class PerLayerReport:
    layers: list[LayerComparison]
    unmatched_onnx: list[str] = field(default_factory=list)
    unmatched_torch: list[str] = field(default_factory=list)

    @property
    def first_divergent(self) -> LayerComparison | None:
        return next((layer for layer in self.layers if not layer.comparison), None)

    def __bool__(self) -> bool:
        return self.first_divergent is None

    def to_dict(self) -> dict[str, Any]:
        first = self.first_divergent
        return {"passed": bool(self), "matched": len(self.layers),
                "first_divergent": first.to_dict() if first else None,
                "layers": [layer.to_dict() for layer in self.layers],
                "unmatched_onnx": self.unmatched_onnx, "unmatched_torch": self.unmatched_torch}


# -- PyTorch side ----------------------------------------------------------------------------
@dataclass
class _TorchLayer:
    order: int
    name: str
    weight: np.ndarray  # folded with the following BN, as the ONNX graph holds it
    output: np.ndarray
    kind: str  # "conv" or "linear"


def _folded(conv: nn.Conv2d, bn: nn.BatchNorm2d | None) -> np.ndarray:
    weight = conv.weight.detach().double()
    if bn is not None and bn.running_var is not None:
        gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(bn.running_var).double()
        weight = weight * (gamma / torch.sqrt(bn.running_var.double() + bn.eps)).reshape(-1, 1, 1, 1)
    return weight.numpy()


def torch_layers(model: nn.Module, x: torch.Tensor) -> list[_TorchLayer]:
    """Run `model` once, recording each Conv2d (merged with the BatchNorm that consumes its
    output) and Linear output, in execution order."""
    names = {module: name for name, module in model.named_modules()}
    layers: list[_TorchLayer] = []
    last_conv: dict[str, Any] = {}

    def on_conv(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        assert isinstance(module, nn.Conv2d)
        layers.append(_TorchLayer(len(layers), names[module], _folded(module, None), output.detach().clone().numpy(), "conv"))
        last_conv.update(module=module, output=output, index=len(layers) - 1)

    def on_bn(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        assert isinstance(module, nn.BatchNorm2d)
        if last_conv and inputs[0] is last_conv["output"]:
            conv = last_conv["module"]
            layer = layers[last_conv["index"]]
            # Clone now: an in-place ReLU overwrites this tensor right after the hook.
            layer.output = output.detach().clone().numpy()
            layer.weight = _folded(conv, module)
            layer.name = f"{names[conv]}+{names[module].rsplit('.', 1)[-1]}"
        last_conv.clear()

    def on_linear(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        assert isinstance(module, nn.Linear)
        layers.append(_TorchLayer(len(layers), names[module], module.weight.detach().double().numpy(),
                                  output.detach().clone().numpy(), "linear"))

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(on_conv))
        elif isinstance(module, nn.BatchNorm2d):
            handles.append(module.register_forward_hook(on_bn))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(on_linear))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return layers


# -- ONNX side -------------------------------------------------------------------------------
def resolve_weight(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto],
               producers: dict[str, onnx.NodeProto]) -> np.ndarray | None:
    """The float weight a compute node uses, through Cast/Identity and DequantizeLinear."""
    if len(node.input) < 2:
        return None
    name = node.input[1]
    for _ in range(4):
        if name in inits:
            return numpy_helper.to_array(inits[name]).astype(np.float64)
        producer = producers.get(name)
        if producer is None:
            return None
        if producer.op_type in ("Cast", "Identity"):
            name = producer.input[0]
            continue
        if producer.op_type == "DequantizeLinear" and all(i in inits for i in producer.input if i):
            q = numpy_helper.to_array(inits[producer.input[0]]).astype(np.float64)
            scale = numpy_helper.to_array(inits[producer.input[1]]).astype(np.float64)
            zero = (numpy_helper.to_array(inits[producer.input[2]]).astype(np.float64)
                    if len(producer.input) > 2 and producer.input[2] else np.zeros_like(scale))
            axis = next((a.i for a in producer.attribute if a.name == "axis"), 1)
            if scale.ndim == 1 and scale.size > 1:
                shape = [1] * q.ndim
                shape[axis] = -1
                scale, zero = scale.reshape(shape), zero.reshape(shape)
            return (q - zero) * scale
        return None
    return None


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    norm = float(np.linalg.norm(b))
    return float(np.linalg.norm(a - b) / norm) if norm > 0 else float(np.linalg.norm(a))


def match_layers(model: onnx.ModelProto, layers: list[_TorchLayer]) -> tuple[list[tuple[onnx.NodeProto, _TorchLayer, float]], list[str]]:
    """Pair ONNX compute nodes with PyTorch layers by weight (see the module docstring)."""
    inits = {t.name: t for t in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    used: set[int] = set()
    pairs, unmatched = [], []
    for node in model.graph.node:
        if node.op_type not in COMPUTE_OPS:
            continue
        weight = resolve_weight(node, inits, producers)
        label = node.name or node.output[0]
        if weight is None:
            unmatched.append(f"{label} (weight is not a constant)")
            continue
        transposed = node.op_type == "MatMul" or any(a.name == "transB" and a.i == 0 for a in node.attribute)
        candidate_weight = weight.T if (transposed and weight.ndim == 2) else weight
        best: tuple[float, _TorchLayer] | None = None
        for layer in layers:
            if layer.order in used or layer.weight.shape != candidate_weight.shape:
                continue
            distance = _distance(candidate_weight, layer.weight)
            if best is None or distance < best[0] - 1e-12:
                best = (distance, layer)
        if best is None or best[0] > MATCH_LIMIT:
            unmatched.append(f"{label} (no PyTorch layer with matching weights)")
            continue
        used.add(best[1].order)
        pairs.append((node, best[1], best[0]))
    return pairs, unmatched


def with_extra_outputs(model: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    """A copy of `model` whose graph also outputs the tensors `names` (types from shape
    inference, so FP16 intermediates stay FP16)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    try:
        inferred = onnx.shape_inference.infer_shapes(copy)
        types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    except Exception:  # pragma: no cover - a model that fails inference still gets float outputs
        types = {}
    existing = {o.name for o in copy.graph.output}
    for name in names:
        if name not in existing:
            copy.graph.output.append(helper.make_tensor_value_info(name, types.get(name, onnx.TensorProto.FLOAT), None))
    return copy


def compare_layers(onnx_model: onnx.ModelProto, torch_model: nn.Module, x: np.ndarray, *, provider: str = "cpu",
                   tolerance: Tolerance | None = None) -> PerLayerReport:
    """Run `x` through both and compare every paired layer (see the module docstring)."""
    from resnet_deploy.backends.onnxruntime_runner import provider_list
    from resnet_deploy.optional import import_optional

    ort = import_optional("onnxruntime", "per-layer validation")
    tolerance = tolerance or Tolerance.for_precision("fp32")
    layers = torch_layers(torch_model.eval(), torch.from_numpy(x))
    pairs, unmatched_onnx = match_layers(onnx_model, layers)
    if not pairs:
        raise InvalidInputError("per-layer: no ONNX layer could be paired with a PyTorch layer by its weights")
    extended = with_extra_outputs(onnx_model, [node.output[0] for node, _, _ in pairs])
    try:
        blob = extended.SerializeToString()
    except ValueError as exc:
        raise InvalidInputError("per-layer validation needs a model below 2 GB") from exc
    session = ort.InferenceSession(blob, providers=provider_list(provider))
    names = [node.output[0] for node, _, _ in pairs]
    results = dict(zip(names, session.run(names, {session.get_inputs()[0].name: x}), strict=True))
    compared = []
    for node, layer, distance in sorted(pairs, key=lambda pair: pair[1].order):
        ref = layer.output
        cand = results[node.output[0]]
        if ref.shape != cand.shape:
            cand = cand.reshape(ref.shape) if cand.size == ref.size else cand
        comparison = compare_outputs(ref, cand, tolerance, name=layer.name, classification=False)
        compared.append(LayerComparison(layer.order, layer.name, node.name, node.output[0], node.op_type, distance,
                                        comparison))
    matched = {layer.order for _, layer, _ in pairs}
    unmatched_torch = [layer.name for layer in layers if layer.order not in matched]
    return PerLayerReport(compared, unmatched_onnx, unmatched_torch)
