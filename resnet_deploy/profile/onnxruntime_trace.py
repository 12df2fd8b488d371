"""onnxruntime's profiler (SessionOptions.enable_profiling) read as per-layer times.

onnxruntime writes a Chrome trace: one `model_run` event (category Session) per run, and per
executed node a `<node>_kernel_time` event (category Node) whose `args` name the op, the
execution provider and the input types. Node names are the graph's after onnxruntime's own
optimisations: a fused node keeps its first node's name, possibly with a suffix (the Conv of
a Conv+Relu becomes a FusedConv of the same name, the Q/DQ around a Conv become a
QLinearConv named after the Conv), so each one is mapped back to the ONNX node(s) of the
model by name.

The same parser serves the CPU and the CUDA execution providers. On the CUDA provider a node's
time is its host-side time (launching its kernels), unless the provider synchronises, so the
sum of the layers there is a lower bound (docs/profile.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.profile.record import precision_name

KERNEL_SUFFIX = "_kernel_time"


@dataclass(frozen=True)
class TraceNode:
    """One executed node in one run."""

    name: str
    op_type: str
    provider: str
    input_types: tuple[str, ...]
    start_us: float
    duration_us: float


@dataclass(frozen=True)
class TraceRun:
    """One `model_run` and the nodes executed inside it."""

    start_us: float
    duration_us: float
    nodes: tuple[TraceNode, ...]


def read_trace(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The events of an onnxruntime profile file (a JSON list)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"'{path}' is not a readable onnxruntime profile ({exc})") from exc
    if not isinstance(data, list):
        raise InvalidInputError(f"'{path}' is not an onnxruntime profile (a JSON list of events)")
    return data


def _input_types(args: Mapping[str, Any]) -> tuple[str, ...]:
    types: list[str] = []
    for item in args.get("input_type_shape", []) or []:
        if isinstance(item, Mapping):
            types.extend(str(k) for k in item)
    return tuple(types)


def parse_runs(events: Iterable[Mapping[str, Any]]) -> list[TraceRun]:
    """Split the trace into runs: each node event belongs to the `model_run` whose time span
    holds it."""
    runs: list[tuple[float, float]] = []
    nodes: list[TraceNode] = []
    for event in events:
        name, cat = str(event.get("name", "")), event.get("cat")
        if cat == "Session" and name == "model_run":
            runs.append((float(event["ts"]), float(event["dur"])))
        elif cat == "Node" and name.endswith(KERNEL_SUFFIX):
            args = event.get("args", {}) or {}
            nodes.append(TraceNode(name[:-len(KERNEL_SUFFIX)], str(args.get("op_name", "")),
                                   str(args.get("provider", "")), _input_types(args), float(event["ts"]),
                                   float(event["dur"])))
    runs.sort()
    nodes.sort(key=lambda n: n.start_us)
    result = []
    for start, duration in runs:
        inside = tuple(n for n in nodes if start <= n.start_us <= start + duration)
        result.append(TraceRun(start, duration, inside))
    return result


def node_precision(op_type: str, input_types: Sequence[str]) -> str | None:
    """The precision a node ran in: an integer kernel (QLinearConv, ConvInteger, MatMulInteger,
    QGemm) is int8 whatever else it takes; otherwise the type of its first input."""
    if op_type.startswith("QLinear") or op_type.endswith("Integer") or op_type in ("QGemm", "QAttention"):
        return "int8"
    return precision_name(input_types[0]) if input_types else None
