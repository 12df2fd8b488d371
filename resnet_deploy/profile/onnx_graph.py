"""Which ONNX node(s) a runtime's layer came from.

Runtimes rename what they run: onnxruntime names a node it rewrites after the tensor it
outputs (`relu_nchwc`: the Conv+Relu whose output is the tensor `relu`) or adds a suffix
(`node_Conv_349_token_1`: the QLinearConv made from a Conv and its Q/DQ), OpenVINO keeps the
original names in the layer's runtime info, TensorRT lists them in the layer's metadata.
This module turns any of those back into node names of the model the user gave, so two
profiles, or two models, line up node by node.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

_SUFFIXES = re.compile(r"(_nchwc|_token_\d+|_kernel_time)+$")
# Ops a runtime folds into the Conv/Gemm before them (one layer, several ONNX nodes).
_FOLDED = ("Relu", "Add", "Clip", "BatchNormalization", "Sum", "QuantizeLinear", "DequantizeLinear")


@dataclass(frozen=True)
class OnnxGraph:
    """Node names, op types and producers of one ONNX model's graph."""

    op_types: dict[str, str]            # node name -> op type
    producers: dict[str, str]           # tensor name -> node name
    node_inputs: dict[str, tuple[str, ...]]
    order: dict[str, int]               # node name -> position in the graph

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> OnnxGraph:
        from resnet_deploy.export.loader import load_onnx_model

        model = load_onnx_model(path, load_external_data=False, check=False)
        op_types: dict[str, str] = {}
        producers: dict[str, str] = {}
        node_inputs: dict[str, tuple[str, ...]] = {}
        order: dict[str, int] = {}
        for index, node in enumerate(model.graph.node):
            name = node.name or (node.output[0] if node.output else f"node_{index}")
            op_types[name] = node.op_type
            node_inputs[name] = tuple(node.input)
            order[name] = index
            for output in node.output:
                producers[output] = name
        return cls(op_types, producers, node_inputs, order)

    def op_type(self, nodes: Iterable[str]) -> str | None:
        """The op type of the first compute node among `nodes`, else of the first one."""
        types = [self.op_types[n] for n in nodes if n in self.op_types]
        return next((t for t in types if t in ("Conv", "Gemm", "MatMul")), types[0] if types else None)

    def _fused_chain(self, node: str) -> tuple[str, ...]:
        """`node` and, when it is a Relu/Add/... right after a Conv or Gemm, the nodes back to
        that Conv or Gemm (a runtime that names a fused layer after its last output)."""
        chain = [node]
        current = node
        for _ in range(4):
            if self.op_types.get(current) in ("Conv", "Gemm", "MatMul") or self.op_types.get(current) not in _FOLDED:
                break
            inputs = [self.producers[i] for i in self.node_inputs.get(current, ()) if i in self.producers]
            compute = [n for n in inputs if self.op_types.get(n) in ("Conv", "Gemm", "MatMul", *_FOLDED)]
            if not compute:
                break
            current = max(compute, key=lambda n: self.order[n])
            chain.append(current)
        if self.op_types.get(chain[-1]) not in ("Conv", "Gemm", "MatMul"):
            return (node,)
        return tuple(sorted(chain, key=lambda n: self.order[n]))

    def nodes_for(self, runtime_name: str) -> tuple[str, ...]:
        """The ONNX node(s) behind a runtime layer name: the node itself, the node that
        outputs the tensor of that name, or the longest node name it starts with; () for a
        layer the runtime inserted (a reorder, a reformat)."""
        if runtime_name in self.op_types:
            return (runtime_name,)
        stripped = _SUFFIXES.sub("", runtime_name)
        if stripped in self.op_types:
            return (stripped,)
        if stripped in self.producers:
            return self._fused_chain(self.producers[stripped])
        best = max((n for n in self.op_types if n and stripped.startswith(n)), key=len, default=None)
        return (best,) if best else ()

    def known(self, names: Iterable[str]) -> tuple[str, ...]:
        """Those of `names` that are nodes of this graph, in graph order, once each."""
        found = {n for n in names if n in self.op_types}
        return tuple(sorted(found, key=lambda n: self.order[n]))
