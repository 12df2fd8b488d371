"""Two profiles side by side, layer by layer (FP32 against INT8, one runtime against another).

Layers pair through the ONNX nodes they came from: a layer of A and a layer of B that share a
node are the same part of the network, however each runtime fused it (A's Conv+Relu and B's
QLinearConv both hold the Conv). Layers that share nothing stand alone: in B, a Q/DQ, reorder
or reformat layer the other model does not need is a conversion it pays for. Each row says
what changed and why when the reason is visible in the profile: a layer left in float, a
conversion inserted, an INT8 layer that is no faster.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.profile.record import LayerTime, ProfileResult

CONVERSIONS = ("QuantizeLinear", "DequantizeLinear", "Reorder", "ReorderInput", "ReorderOutput", "Reformat",
               "Convert", "FakeQuantize", "Cast", "Transpose", "Shuffle")
FLOAT = ("fp32", "fp16", "bf16")
NO_FASTER = 1.1  # a layer under 10% faster than before has not gained


@dataclass(frozen=True)
class LayerPair:
    """Layers of A and of B that hold the same ONNX nodes."""

    onnx_nodes: tuple[str, ...]
    a: tuple[LayerTime, ...]
    b: tuple[LayerTime, ...]
    why: str

    @property
    def a_ms(self) -> float:
        return math.fsum(layer.median_ms for layer in self.a)

    @property
    def b_ms(self) -> float:
        return math.fsum(layer.median_ms for layer in self.b)

    @property
    def speedup(self) -> float | None:
        return self.a_ms / self.b_ms if self.a and self.b and self.b_ms > 0 else None

    @property
    def label(self) -> str:
        layers = self.a or self.b
        return layers[0].name if len(layers) == 1 else f"{layers[0].name} (+{len(layers) - 1})"

    @property
    def op_type(self) -> str:
        return next((x.op_type for x in (*self.a, *self.b) if x.op_type), "")

    @staticmethod
    def _precisions(layers: tuple[LayerTime, ...]) -> str | None:
        found = sorted({x.precision for x in layers if x.precision})
        return "+".join(found) if found else None

    @property
    def a_precision(self) -> str | None:
        """The precisions A's layers ran in ("fp32", "fp32+int8"), None when unknown."""
        return self._precisions(self.a)

    @property
    def b_precision(self) -> str | None:
        return self._precisions(self.b)

    def to_dict(self) -> JsonObject:
        return {"label": self.label, "onnx_nodes": list(self.onnx_nodes), "op_type": self.op_type,
                "a_layers": [x.name for x in self.a], "b_layers": [x.name for x in self.b],
                "a_ms": self.a_ms, "b_ms": self.b_ms, "speedup": self.speedup,
                "a_precision": self.a_precision, "b_precision": self.b_precision, "why": self.why}


@dataclass(frozen=True)
class ComparisonSummary:
    """A against B in a few figures: end-to-end medians and their ratio, layer sums, and B's
    time in conversions A does not run, in layers left in float and in INT8 layers no faster."""

    a_end_to_end_ms: float
    b_end_to_end_ms: float
    end_to_end_speedup: float | None
    a_layer_sum_ms: float
    b_layer_sum_ms: float
    b_conversions_ms: float
    b_left_in_float_ms: float
    b_no_faster_ms: float

    def to_dict(self) -> JsonObject:
        return dataclasses.asdict(self)


@dataclass
class ProfileComparison:
    """A against B; `pairs` in A's execution order, B-only layers after their neighbours."""

    a: ProfileResult
    b: ProfileResult
    pairs: list[LayerPair]

    def time_in(self, why_prefix: str) -> float:
        return math.fsum(p.b_ms for p in self.pairs if p.why.startswith(why_prefix))

    def summary(self) -> ComparisonSummary:
        return ComparisonSummary(
            a_end_to_end_ms=self.a.end_to_end_ms, b_end_to_end_ms=self.b.end_to_end_ms,
            end_to_end_speedup=self.a.end_to_end_ms / self.b.end_to_end_ms if self.b.end_to_end_ms else None,
            a_layer_sum_ms=self.a.layer_sum_ms, b_layer_sum_ms=self.b.layer_sum_ms,
            b_conversions_ms=self.time_in("conversion"), b_left_in_float_ms=self.time_in("left in float"),
            b_no_faster_ms=self.time_in("no faster"))

    def to_dict(self) -> JsonObject:
        return {"a": self.a.to_dict(), "b": self.b.to_dict(), "summary": self.summary().to_dict(),
                "pairs": [p.to_dict() for p in self.pairs]}


def _keys(layer: LayerTime) -> tuple[str, ...]:
    return layer.onnx_nodes or (f"layer:{layer.name}",)


def _why(a: tuple[LayerTime, ...], b: tuple[LayerTime, ...], b_precision: str | None) -> str:
    if not a:
        if all(x.op_type in CONVERSIONS or not x.onnx_nodes for x in b):
            return "conversion only B runs (" + ", ".join(sorted({x.op_type or 'inserted' for x in b})) + ")"
        return "only in B"
    if not b:
        return "only in A (fused away or not run in B)"
    precisions_b = {x.precision for x in b if x.precision}
    a_ms, b_ms = math.fsum(x.median_ms for x in a), math.fsum(x.median_ms for x in b)
    speedup = a_ms / b_ms if b_ms > 0 else math.inf
    quantized = b_precision == "int8"
    if quantized and precisions_b and precisions_b <= set(FLOAT):
        return f"left in float ({'+'.join(sorted(precisions_b))}) in the INT8 model"
    if quantized and "int8" in precisions_b and speedup < NO_FASTER:
        return f"no faster in int8 ({speedup:.2f}x)"
    if speedup >= NO_FASTER:
        return f"faster ({speedup:.2f}x)"
    if speedup < 1 / NO_FASTER:
        return f"slower ({speedup:.2f}x)"
    return "about the same"


def compare_profiles(a: ProfileResult, b: ProfileResult) -> ProfileComparison:
    """Pair the layers of `a` and `b` through shared ONNX nodes (see the module docstring)."""
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def find(item: tuple[str, int]) -> tuple[str, int]:
        while parent.setdefault(item, item) != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    owner: dict[str, tuple[str, int]] = {}
    for side, layers in (("a", a.layers), ("b", b.layers)):
        for index, layer in enumerate(layers):
            me = find((side, index))
            for key in _keys(layer):
                if key in owner:
                    parent[me] = find(owner[key])
                    me = find(me)
                else:
                    owner[key] = me
    groups: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for side, layers in (("a", a.layers), ("b", b.layers)):
        for index in range(len(layers)):
            groups.setdefault(find((side, index)), []).append((side, index))
    pairs = []
    for members in groups.values():
        a_layers = tuple(a.layers[i] for s, i in members if s == "a")
        b_layers = tuple(b.layers[i] for s, i in members if s == "b")
        nodes = tuple(dict.fromkeys(n for x in (*a_layers, *b_layers) for n in x.onnx_nodes))
        pairs.append(LayerPair(nodes, a_layers, b_layers, _why(a_layers, b_layers, b.model_precision)))
    pairs.sort(key=lambda p: (min(x.order for x in p.a) if p.a else min(x.order for x in p.b) + 0.5,
                              0 if p.a else 1))
    return ProfileComparison(a, b, pairs)
