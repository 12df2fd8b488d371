"""What every precision step needs from its FP32 source: the loaded graph, its hash, its
metadata and sidecar, and the one-line refusals for models it cannot convert.

Kept apart so FP16, INT8 and accuracy read a model the same way (through the export
package's loader, which turns a truncated or foreign file into one clear ArtifactError).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from resnet_deploy.atomic import guard_outputs
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.export.detect import GraphPrecision, detect_precision
from resnet_deploy.sidecar import (
    new_sidecar,
    read_sidecar,
    relative_to_artifact,
    sha256_file,
    sidecar_path,
    write_artifact,
)

# Nodes whose presence means the graph is already quantized (QDQ or QOperator).
QUANTIZED_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger",
                           "MatMulInteger", "DynamicQuantizeLinear", "QGemm", "QLinearAdd"})


@dataclass
class SourceModel:
    path: Path
    model: onnx.ModelProto
    sha256: str
    precision: GraphPrecision
    metadata: dict[str, str]
    sidecar: dict[str, Any] | None
    opset: int

    input_name: str = field(init=False)
    input_shape: tuple[int | None, ...] = field(init=False)

    def __post_init__(self) -> None:
        initializers = {init.name for init in self.model.graph.initializer}
        real = [i for i in self.model.graph.input if i.name not in initializers]
        if len(real) != 1:
            raise InvalidInputError(f"'{self.path}' has {len(real)} graph inputs; precision conversion expects one image input")
        self.input_name = real[0].name
        dims = real[0].type.tensor_type.shape.dim
        self.input_shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims)

    @property
    def input_spec(self) -> dict[str, Any] | None:
        """The input spec the exporter recorded (metadata first, then the sidecar)."""
        raw = self.metadata.get("input_spec")
        if raw:
            try:
                spec = json.loads(raw)
                if isinstance(spec, dict):
                    return spec
            except json.JSONDecodeError:
                pass
        if self.sidecar and isinstance(self.sidecar.get("input_spec"), dict):
            return dict(self.sidecar["input_spec"])
        return None

    @property
    def architecture(self) -> str | None:
        return self.metadata.get("architecture") or (self.sidecar or {}).get("architecture")


def load_source(path: str | os.PathLike[str]) -> SourceModel:
    """Load an ONNX model with its hash, metadata and (optional) sidecar."""
    from resnet_deploy.export.loader import load_onnx_model

    path = Path(path)
    model = load_onnx_model(path, load_external_data=True, check=False)
    sidecar = read_sidecar(path, required=False)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    return SourceModel(path, model, sha256_file(path), detect_precision(model),
                       {p.key: p.value for p in model.metadata_props}, sidecar, opset)


def require_fp32(source: SourceModel, what: str) -> None:
    """Refuse a model that is already FP16 or quantized: both conversions start from FP32."""
    quantized = sorted({n.op_type for n in source.model.graph.node if n.op_type in QUANTIZED_OPS})
    if quantized or source.precision.precision == "int8":
        raise InvalidInputError(f"'{source.path}' is already quantized ({', '.join(quantized) or 'int8'} nodes); "
                                f"{what} needs the FP32 model it came from")
    if source.precision.precision != "fp32":
        name = source.precision.precision.upper()
        raise InvalidInputError(f"'{source.path}' is already {'an' if name[0] in 'FI' else 'a'} {name} model; {what} "
                                "needs the FP32 model it came from")




def output_meta(source: SourceModel, precision: str, **fields: Any) -> dict[str, Any]:
    """The converted model's sidecar: what it is, where it came from, how it was made."""
    inherited = {k: v for k, v in (source.sidecar or {}).items()
                 if k in ("architecture", "model_kwargs", "input_spec", "trained", "checkpoint", "checkpoint_sha256",
                          "opset", "batch", "input_names", "output_names")}
    meta = new_sidecar("onnx", None, **inherited)
    meta.update({
        "architecture": source.architecture,
        "input_spec": source.input_spec,
        "precision": precision,
        "source": str(source.path.resolve()),  # made relative to the output's folder by write_model
        "source_sha256": source.sha256,
        "source_precision": source.precision.precision,
    })
    meta.update(fields)
    return meta


def write_model(output: Path, model: onnx.ModelProto, meta: dict[str, Any]) -> Path:
    """Save a converted model and its sidecar together (crash-consistent), checked by
    onnx.checker before it replaces anything."""
    def save(tmp: Path) -> None:
        onnx.save(model, str(tmp))
        onnx.checker.check_model(str(tmp))

    meta = {**meta, "source": relative_to_artifact(meta["source"], output) if "source" in meta else None}
    write_artifact(output, save, meta)
    return sidecar_path(output)


def prepare_output(source: SourceModel, output_path: str | os.PathLike[str] | None, precision: str) -> Path:
    """The output path (default `model.<precision>.onnx` beside the input), refused when it
    would replace the input or cannot be written."""
    output = Path(output_path) if output_path is not None else default_output(source.path, precision)
    guard_outputs(inputs=[source.path], outputs=[output])
    return output


def default_output(input_path: Path, precision: str) -> Path:
    """`model.onnx` -> `model.fp16.onnx` / `model.int8.onnx`, beside the input."""
    return input_path.with_name(f"{input_path.stem}.{precision}{input_path.suffix or '.onnx'}")


def topological_sort(model: onnx.ModelProto) -> None:
    """Reorder graph nodes so each comes after its producers (some converters append the
    Cast nodes they add at the end; onnx.checker and TensorRT's parser want sorted graphs)."""
    graph = model.graph
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    ordered: list[onnx.NodeProto] = []
    while pending:
        remaining = []
        for node in pending:
            if all(name in available for name in node.input):
                ordered.append(node)
                available.update(node.output)
            else:
                remaining.append(node)
        if len(remaining) == len(pending):
            raise InvalidInputError(f"graph has a cycle or a dangling input at node '{remaining[0].name}'")
        pending = remaining
    del graph.node[:]
    graph.node.extend(ordered)
