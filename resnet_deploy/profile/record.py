"""What a per-layer profile is: one record per layer the runtime really ran, with the ONNX
node(s) it came from, its op type, the precision it ran in and its time per iteration, and
beside the layers the end-to-end time of the same run.

The sum of the layers is never the end-to-end time: runtimes fuse, reorder and insert
layers, and what lies between two kernels (the executor, allocation, the Python call) is in
no layer. Both are kept so a reader sees how much of the end-to-end time the layers explain
(`coverage`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from resnet_deploy.bench.stats import summarize
from resnet_deploy.jsontypes import JsonObject

# What the runtimes call their precisions -> the project's names.
_PRECISIONS = {
    "f32": "fp32", "fp32": "fp32", "float": "fp32", "float32": "fp32", "tensor(float)": "fp32",
    "f16": "fp16", "fp16": "fp16", "half": "fp16", "float16": "fp16", "tensor(float16)": "fp16",
    "bf16": "bf16", "bfloat16": "bf16", "tensor(bfloat16)": "bf16",
    "i8": "int8", "u8": "int8", "int8": "int8", "uint8": "int8", "tensor(int8)": "int8", "tensor(uint8)": "int8",
    "i32": "int32", "int32": "int32", "i64": "int64", "int64": "int64", "tensor(int64)": "int64",
}


def precision_name(text: str | None) -> str | None:
    """A runtime's name for a type (OpenVINO's `f32`, onnxruntime's `float`, TensorRT's
    `Half`) as fp32 / fp16 / bf16 / int8; None when unknown."""
    if not text:
        return None
    key = str(text).strip().lower()
    return _PRECISIONS.get(key, key)


@dataclass(frozen=True)
class LayerTime:
    """One layer as the runtime ran it. `times_ms`: its time in each measured iteration
    (a layer run several times per iteration counts once, summed)."""

    name: str
    onnx_nodes: tuple[str, ...]
    op_type: str
    precision: str | None
    times_ms: tuple[float, ...]
    order: int = 0

    @property
    def median_ms(self) -> float:
        return summarize(self.times_ms).median if self.times_ms else 0.0

    def to_dict(self, total_ms: float) -> JsonObject:
        median = self.median_ms
        return {"name": self.name, "onnx_nodes": list(self.onnx_nodes), "op_type": self.op_type,
                "precision": self.precision, "median_ms": median, "share": median / total_ms if total_ms else 0.0,
                "iterations": len(self.times_ms)}


@dataclass(frozen=True)
class GroupTotal:
    """Layers of one op type or one precision together."""

    key: str
    layers: int
    median_ms: float
    share: float

    def to_dict(self) -> JsonObject:
        return {"key": self.key, "layers": self.layers, "median_ms": self.median_ms, "share": self.share}


@dataclass
class ProfileResult:
    """A per-layer profile of one model on one backend, with the end-to-end median of the
    same run. `end_to_end_ms` is what a caller of the runner waits for one batch;
    `runtime_ms`, where the runtime reports it, is its own time for the whole model (the
    run in its trace), which excludes the caller's side."""

    model: str
    backend: str
    batch_size: int
    iterations: int
    warmup: int
    layers: list[LayerTime]
    end_to_end_ms: float
    model_precision: str | None = None
    runtime_ms: float | None = None
    method: str = ""
    notes: list[str] = field(default_factory=list)
    runner: JsonObject = field(default_factory=dict)  # the runner's describe()

    @property
    def layer_sum_ms(self) -> float:
        """The median over the iterations of the sum of all layers in each iteration: the
        figure that stands beside the end-to-end median (both are medians of per-iteration
        totals over the same iterations)."""
        count = max((len(layer.times_ms) for layer in self.layers), default=0)
        if count == 0:
            return 0.0
        totals = [math.fsum(layer.times_ms[i] for layer in self.layers if i < len(layer.times_ms))
                  for i in range(count)]
        return summarize(totals).median

    @property
    def sum_of_medians_ms(self) -> float:
        """The sum of each layer's own median: what the shares divide. Below `layer_sum_ms`
        when the time of a layer jumps between iterations (other load on the machine moves
        each layer's slow iterations to different places)."""
        return math.fsum(layer.median_ms for layer in self.layers)

    @property
    def coverage(self) -> float:
        """The layer sum as a fraction of the end-to-end median (1.0: the layers explain it all)."""
        return self.layer_sum_ms / self.end_to_end_ms if self.end_to_end_ms > 0 else 0.0

    def sorted_layers(self) -> list[LayerTime]:
        return sorted(self.layers, key=lambda layer: layer.median_ms, reverse=True)

    def totals(self, by: str) -> list[GroupTotal]:
        """Totals by "op_type" or "precision", largest first."""
        if by not in ("op_type", "precision"):
            raise ValueError(f"totals by op_type or precision, not {by!r}")
        groups: dict[str, list[LayerTime]] = {}
        for layer in self.layers:
            groups.setdefault(str(getattr(layer, by) or "unknown"), []).append(layer)
        total = self.sum_of_medians_ms
        rows = [GroupTotal(key, len(items), math.fsum(x.median_ms for x in items),
                           math.fsum(x.median_ms for x in items) / total if total else 0.0)
                for key, items in groups.items()]
        return sorted(rows, key=lambda row: row.median_ms, reverse=True)

    def to_dict(self) -> JsonObject:
        total = self.sum_of_medians_ms
        return {"model": self.model, "backend": self.backend, "model_precision": self.model_precision,
                "batch_size": self.batch_size, "iterations": self.iterations, "warmup": self.warmup,
                "method": self.method, "end_to_end_ms": self.end_to_end_ms, "runtime_ms": self.runtime_ms,
                "layer_sum_ms": self.layer_sum_ms, "sum_of_medians_ms": total, "coverage": self.coverage,
                "by_op_type": [t.to_dict() for t in self.totals("op_type")],
                "by_precision": [t.to_dict() for t in self.totals("precision")],
                "layers": [layer.to_dict(total) for layer in self.layers],
                "runner": self.runner, "notes": self.notes}


def per_iteration(samples: Sequence[Sequence[tuple[str, float]]]) -> dict[str, tuple[float, ...]]:
    """Per-layer times of each iteration -> per layer, its time in every iteration (0 where
    an iteration did not run it; a name seen twice in one iteration is summed)."""
    names: dict[str, None] = {}
    for sample in samples:
        for name, _ in sample:
            names.setdefault(name, None)
    result: dict[str, list[float]] = {name: [0.0] * len(samples) for name in names}
    for index, sample in enumerate(samples):
        for name, ms in sample:
            result[name][index] += ms
    return {name: tuple(values) for name, values in result.items()}
