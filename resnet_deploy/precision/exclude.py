"""Which nodes stay out of INT8: `exclude` patterns resolved against the model's graph.

A pattern is a node name (`/layer3/layer3.2/conv2/Conv`), a glob over node names
(`/layer1/*`, `*/conv1/*`) or an op type (`Add`, `Gemm`). Each must match at least one node
that INT8 would quantize: a pattern that matches nothing is a typo, refused with the closest
names (difflib), never silently ignored.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Sequence

import onnx

from resnet_deploy.errors import InvalidInputError

# The nodes whose inputs the INT8 layouts quantize (qdq.WEIGHTED_OPS and the residual Add):
# the units a fallback keeps in float.
QUANTIZED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul", "Add")
GLOB_CHARS = "*?["


def quantizable_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """The nodes INT8 would quantize, in graph order (named: every exported node has a name)."""
    return [node for node in model.graph.node if node.op_type in QUANTIZED_OPS and node.name]


def resolve_exclusions(model: onnx.ModelProto, patterns: Sequence[str]) -> tuple[str, ...]:
    """The node names matched by `patterns`, in graph order; an unmatched pattern is bad input."""
    nodes = quantizable_nodes(model)
    names = [node.name for node in nodes]
    op_types = sorted({node.op_type for node in nodes})
    chosen: set[str] = set()
    for pattern in patterns:
        if not pattern.strip():
            raise InvalidInputError("an empty `exclude` pattern; give a node name, a glob or an op type", param="exclude")
        if pattern in op_types:
            matched = [n.name for n in nodes if n.op_type == pattern]
        elif any(ch in pattern for ch in GLOB_CHARS):
            matched = fnmatch.filter(names, pattern)
        else:
            matched = [pattern] if pattern in names else []
        if not matched:
            raise InvalidInputError(_unmatched(pattern, names, op_types), param="exclude")
        chosen.update(matched)
    return tuple(name for name in names if name in chosen)


def _unmatched(pattern: str, names: list[str], op_types: list[str]) -> str:
    close = difflib.get_close_matches(pattern, [*names, *op_types], n=4, cutoff=0.5)
    hint = f"close: {', '.join(close)}" if close else f"names look like {names[0]!r}" if names else "none here"
    return (f"`exclude` {pattern!r} matches no node INT8 quantizes ({len(names)} nodes of {', '.join(op_types)}); "
            f"{hint}")
