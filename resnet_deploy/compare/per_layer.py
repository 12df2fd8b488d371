"""Per-layer comparison: the first layer where two runtimes diverge.

What Polygraphy's bisecting does for users, for ResNets, between any two sides that can
expose intermediate tensors: PyTorch (every Conv2d/Linear hooked), onnxruntime and OpenVINO
(every Conv/Gemm/MatMul output of the ONNX graph added as a graph output) and TensorRT (the
same outputs marked in a debug build of the plan's source model, by a runner the caller
passes in: see `LayerTap`). Marking an output keeps that tensor from being fused away, so the
debug engine is not the engine that ships: a divergence it shows is real, but one that only
fusion causes can hide from it.

Two ONNX sides pair node by node through node names (the same model on two runtimes, or an
FP16/INT8 model and its FP32 source, whose converters keep the names). An ONNX side and a
PyTorch side pair by WEIGHTS, not by names or order: exporters rename nodes, simplifiers
reorder them, and BN folding merges two modules into one node. After folding, an ONNX Conv's
weight is the PyTorch conv weight times gamma/sqrt(var+eps) of the BatchNorm that consumes
it, so its output corresponds to that BatchNorm's output (the conv alone when no BN follows
it, as in pre-activation blocks). Weights feeding a node through Cast (FP16) or
DequantizeLinear (INT8 Q/DQ) are decoded first, so FP16 and INT8 models pair too; a pair is
accepted when the weights agree to 5% (relative L2), the closest one wins, and ties go to
execution order. Layers are then compared in the reference's execution order and the first
one outside tolerance is reported.

Intermediate activations grow with depth in an untrained ResNet, so the absolute tolerance
of a layer is scaled by its reference RMS (at least 1): a layer with values in the hundreds
is judged like logits near 1. Cosine limits apply unscaled.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper
from torch import nn

from resnet_deploy.backends.registry import default_backend
from resnet_deploy.compare.stats import OutputComparison, Tolerance, compare_outputs
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.jsontypes import JsonObject

log = logging.getLogger(__name__)

COMPUTE_OPS = ("Conv", "Gemm", "MatMul")
MATCH_LIMIT = 0.05  # relative L2 distance under which two weights are "the same layer"

# Runs an ONNX model that has extra graph outputs on one runtime: (model file, input) -> outputs by name.
LayerTap = Callable[[Path, np.ndarray], dict[str, np.ndarray]]


@dataclass(frozen=True)
class LayerComparison:
    order: int  # the reference's execution order
    reference_layer: str  # e.g. "layer2.0.conv1+bn1" (PyTorch) or an ONNX node name
    candidate_layer: str
    tensor: str  # the candidate's tensor (an ONNX tensor name, or the PyTorch module's)
    op: str
    weight_distance: float | None  # None when paired by name
    comparison: OutputComparison

    def to_dict(self) -> JsonObject:
        return {"order": self.order, "reference_layer": self.reference_layer, "candidate_layer": self.candidate_layer,
                "tensor": self.tensor, "op": self.op, "weight_distance": self.weight_distance,
                **{k: v for k, v in self.comparison.to_dict().items() if k != "name"}}


@dataclass
class PerLayerReport:
    layers: list[LayerComparison]
    unmatched_candidate: list[str] = field(default_factory=list)
    unmatched_reference: list[str] = field(default_factory=list)
    reference: str = ""
    candidate: str = ""
    notes: list[str] = field(default_factory=list)
    disturbed: list[str] = field(default_factory=list)  # sides whose results changed when their layers were exposed

    @property
    def first_divergent(self) -> LayerComparison | None:
        """The first layer outside tolerance; None when all agree, and None when a side's layer
        outputs are not those of the model as it normally runs (`disturbed`): naming a layer
        then would blame the comparison's own change."""
        if self.disturbed:
            return None
        return next((layer for layer in self.layers if not layer.comparison), None)

    def __bool__(self) -> bool:
        return self.first_divergent is None

    def to_dict(self) -> JsonObject:
        first = self.first_divergent
        return {"passed": bool(self), "reference": self.reference, "candidate": self.candidate,
                "matched": len(self.layers), "first_divergent": first.to_dict() if first else None,
                "layers": [layer.to_dict() for layer in self.layers],
                "unmatched_candidate": self.unmatched_candidate, "unmatched_reference": self.unmatched_reference,
                "notes": self.notes, "disturbed": self.disturbed}


# -- PyTorch side ----------------------------------------------------------------------------
@dataclass
class _TorchLayer:
    order: int
    name: str
    weight: np.ndarray  # folded with the following BN, as the ONNX graph holds it
    output: np.ndarray
    kind: str  # "conv" or "linear"


@dataclass(frozen=True)
class _ConvOutput:
    """The last Conv2d that ran, while a BatchNorm may still consume its output."""

    module: nn.Conv2d
    output: torch.Tensor
    index: int  # its layer in the list being recorded


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
    last_conv: _ConvOutput | None = None

    def on_conv(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal last_conv
        assert isinstance(module, nn.Conv2d)
        layers.append(_TorchLayer(len(layers), names[module], _folded(module, None), output.detach().clone().numpy(), "conv"))
        last_conv = _ConvOutput(module, output, len(layers) - 1)

    def on_bn(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal last_conv
        assert isinstance(module, nn.BatchNorm2d)
        if last_conv is not None and inputs[0] is last_conv.output:
            conv = last_conv.module
            layer = layers[last_conv.index]
            # Clone now: an in-place ReLU overwrites this tensor right after the hook.
            layer.output = output.detach().clone().numpy()
            layer.weight = _folded(conv, module)
            layer.name = f"{names[conv]}+{names[module].rsplit('.', 1)[-1]}"
        last_conv = None

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


# -- the two sides -----------------------------------------------------------------------------
@dataclass
class SideLayer:
    """One compute layer of one side: its weight (output channels first, decoded to float,
    BN folded) and its output on the comparison's input."""

    order: int
    name: str
    op: str
    weight: np.ndarray | None
    tensor: str
    output: np.ndarray


@dataclass
class LayerSide:
    label: str
    kind: str  # torch or onnx
    layers: list[SideLayer]
    notes: list[str] = field(default_factory=list)
    disturbed: str | None = None  # why its layer outputs are not those of the model as it normally runs


def torch_side(model: nn.Module, x: np.ndarray, label: str = "torch") -> LayerSide:
    """Every Conv2d (with the BN after it) and Linear of `model`, run on `x`."""
    layers = torch_layers(model.eval(), torch.from_numpy(x))
    return LayerSide(label, "torch", [SideLayer(layer.order, layer.name, layer.kind, layer.weight, layer.name,
                                                layer.output) for layer in layers])


def _canonical_weight(node: onnx.NodeProto, weight: np.ndarray | None) -> np.ndarray | None:
    """Output channels first, as PyTorch holds them (MatMul and Gemm without transB hold (in, out))."""
    if weight is None:
        return None
    transposed = node.op_type == "MatMul" or (node.op_type == "Gemm" and not any(
        a.name == "transB" and a.i == 1 for a in node.attribute))
    return weight.T if transposed and weight.ndim == 2 else weight


def _changed_outputs(model: onnx.ModelProto, exposed: dict[str, np.ndarray], own: dict[str, np.ndarray]) -> list[str]:
    """The model's own outputs that differ between the run with the layer outputs exposed and
    the run without (beyond float noise)."""
    changed = []
    for output in model.graph.output:
        a, b = exposed.get(output.name), own.get(output.name)
        if a is None or b is None:
            continue
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        scale = max(float(np.sqrt(np.mean(b * b))), 1e-6)
        if a.shape != b.shape or float(np.max(np.abs(a - b))) > 1e-3 * scale:
            changed.append(output.name)
    return changed


def onnx_side(model: onnx.ModelProto, x: np.ndarray, tap: LayerTap, label: str, *,
              check_unchanged: bool = True) -> LayerSide:
    """Every Conv/Gemm/MatMul output of `model`, exposed as graph outputs and run by `tap`.
    With `check_unchanged` the model also runs as it is, and a runtime whose own outputs change
    when the layers are exposed (seen: OpenVINO on INT8 Q/DQ models, whose low-precision
    transformations then compute the exposed branches differently) is marked `disturbed`."""
    inits = {t.name: t for t in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    nodes = [node for node in model.graph.node if node.op_type in COMPUTE_OPS and node.output]
    if not nodes:
        raise InvalidInputError(f"per-layer: {label} has no Conv, Gemm or MatMul node to compare")
    names = [node.output[0] for node in nodes]
    extended = with_extra_outputs(model, names)
    with tempfile.TemporaryDirectory(prefix="rd-layers-") as folder:
        path = Path(folder) / "layers.onnx"
        try:
            onnx.save(extended, os.fspath(path))
        except ValueError as exc:
            raise InvalidInputError("per-layer validation needs a model below 2 GB") from exc
        outputs = tap(path, x)
        own: dict[str, np.ndarray] = {}
        if check_unchanged:
            plain = Path(folder) / "model.onnx"
            onnx.save(model, os.fspath(plain))
            own = tap(plain, x)
    missing = [name for name in names if name not in outputs]
    if missing:
        raise InvalidInputError(f"per-layer: {label} did not return the layer outputs {missing[:3]}")
    layers = [SideLayer(i, node.name or node.output[0], node.op_type,
                        _canonical_weight(node, resolve_weight(node, inits, producers)), node.output[0],
                        np.asarray(outputs[node.output[0]], dtype=np.float32))
              for i, node in enumerate(nodes)]
    changed = _changed_outputs(model, outputs, own) if check_unchanged else []
    disturbed = (f"{label} gives other {', '.join(changed)} when its layer outputs are exposed than when it runs "
                 "the model as it is, so its layer outputs are not those of the model: no layer is named") if changed else None
    if disturbed:
        log.warning("per-layer: %s", disturbed)
    return LayerSide(label, "onnx", layers, disturbed=disturbed)


def runner_tap(backend: str, threads: int | None = None) -> LayerTap:
    """A LayerTap that runs the model with the registry's runner for `backend` (onnxruntime
    on any provider, OpenVINO)."""
    def tap(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
        from resnet_deploy.backends.registry import RunOptions, get_backend, open_runner

        options = RunOptions(threads=threads if "threads" in get_backend(backend).options else None)
        with open_runner(backend, path, options) as runner:
            info = runner.inputs()[0]
            return runner.infer({info.name: np.ascontiguousarray(x.astype(info.dtype, copy=False))})
    return tap


# -- pairing and comparing ---------------------------------------------------------------------
def pair_layers(reference: LayerSide, candidate: LayerSide) -> tuple[list[tuple[SideLayer, SideLayer, float | None]],
                                                                     list[str]]:
    """(reference layer, candidate layer, weight distance or None when paired by name) and
    the candidate layers left unpaired, with the reason (see the module docstring)."""
    pairs: list[tuple[SideLayer, SideLayer, float | None]] = []
    used_ref: set[int] = set()
    left = list(candidate.layers)
    if reference.kind == candidate.kind:
        by_name = {layer.name: layer for layer in reference.layers}
        for layer in list(left):
            ref = by_name.get(layer.name)
            if ref is not None and ref.op == layer.op and ref.order not in used_ref:
                pairs.append((ref, layer, None))
                used_ref.add(ref.order)
                left.remove(layer)
    unmatched = []
    for layer in left:
        if layer.weight is None:
            unmatched.append(f"{layer.name} (weight is not a constant)")
            continue
        best: tuple[float, SideLayer] | None = None
        for ref in reference.layers:
            if ref.order in used_ref or ref.weight is None or ref.weight.shape != layer.weight.shape:
                continue
            distance = _distance(layer.weight, ref.weight)
            if best is None or distance < best[0] - 1e-12:
                best = (distance, ref)
        if best is None or best[0] > MATCH_LIMIT:
            unmatched.append(f"{layer.name} (no layer of {reference.label} with matching weights)")
            continue
        used_ref.add(best[1].order)
        pairs.append((best[1], layer, best[0]))
    return sorted(pairs, key=lambda pair: pair[0].order), unmatched


def compare_sides(reference: LayerSide, candidate: LayerSide, tolerance: Tolerance | None = None) -> PerLayerReport:
    """Every paired layer of `candidate` against `reference`, in the reference's order."""
    tolerance = tolerance or Tolerance.for_precision("fp32")
    pairs, unmatched = pair_layers(reference, candidate)
    if not pairs:
        raise InvalidInputError(f"per-layer: no layer of {candidate.label} could be paired with a layer of "
                                f"{reference.label} by name or weights")
    compared = []
    for ref, cand, distance in pairs:
        out = cand.output
        if out.shape != ref.output.shape and out.size == ref.output.size:
            out = out.reshape(ref.output.shape)
        comparison = compare_outputs(ref.output, out, tolerance, name=ref.name, classification=False)
        compared.append(LayerComparison(ref.order, ref.name, cand.name, cand.tensor, cand.op, distance, comparison))
    paired = {ref.order for ref, _, _ in pairs}
    unmatched_ref = [layer.name for layer in reference.layers if layer.order not in paired]
    return PerLayerReport(compared, unmatched, unmatched_ref, reference.label, candidate.label,
                          [*reference.notes, *candidate.notes],
                          [side.disturbed for side in (reference, candidate) if side.disturbed])


def compare_layers(onnx_model: onnx.ModelProto, torch_model: nn.Module, x: np.ndarray, *, backend: str | None = None,
                   tolerance: Tolerance | None = None, tap: LayerTap | None = None) -> PerLayerReport:
    """An ONNX model on `backend` (ONNX's default backend when None, or `tap`) against its
    PyTorch source, layer by layer."""
    backend = backend or default_backend("onnx")
    candidate = onnx_side(onnx_model, x, tap or runner_tap(backend), backend)
    return compare_sides(torch_side(torch_model, x), candidate, tolerance)


__all__ = ["LayerComparison", "LayerSide", "LayerTap", "PerLayerReport", "compare_layers",
           "compare_sides", "onnx_side", "pair_layers", "runner_tap", "torch_side", "with_extra_outputs"]
