"""What every precision step needs from its FP32 source: the loaded graph, its hash, its
metadata and sidecar, and the one-line refusals for models it cannot convert.

Kept apart so FP16, INT8 and accuracy read a model the same way (through the export
package's loader, which turns a truncated or foreign file into one clear ArtifactError).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import onnx

from resnet_deploy.atomic import guard_outputs
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.export.artifact import Loaded, describe_onnx
from resnet_deploy.export.onnx_record import ONNX_KIND, OnnxSidecar
from resnet_deploy.input_spec import InputSpec
from resnet_deploy.sidecar import (
    relative_to_artifact,
    sidecar_path,
    write_artifact,
)

# Nodes whose presence means the graph is already quantized (QDQ or QOperator).
QUANTIZED_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger",
                           "MatMulInteger", "DynamicQuantizeLinear", "QGemm", "QLinearAdd"})


SourceModel = Loaded[onnx.ModelProto]  # an FP32 ONNX model and its description (export.artifact)


def load_source(path: str | os.PathLike[str]) -> SourceModel:
    """Load an ONNX model (external data included) with its description: hash, metadata,
    sidecar, its one image input."""
    from resnet_deploy.export.loader import load_onnx_model

    path = Path(path)
    model = load_onnx_model(path, load_external_data=True, check=False)
    artifact = describe_onnx(path, model)
    if len(artifact.inputs) != 1:
        raise InvalidInputError(f"'{path}' has {len(artifact.inputs)} graph inputs; precision conversion expects one "
                                "image input")
    return Loaded(artifact, model)


def recorded_spec(source: SourceModel) -> InputSpec | None:
    """The input spec the exporter recorded (metadata first, then the sidecar), None for a
    model that records none."""
    artifact = source.artifact
    if artifact.spec_source == "metadata":
        return artifact.input_spec
    return artifact.sidecar.input_spec if isinstance(artifact.sidecar, OnnxSidecar) else None


def require_fp32(source: SourceModel, what: str) -> None:
    """Refuse a model that is already FP16 or quantized: both conversions start from FP32."""
    quantized = sorted({n.op_type for n in source.model.graph.node if n.op_type in QUANTIZED_OPS})
    if quantized or source.artifact.precision == "int8":
        raise InvalidInputError(f"'{source.path}' is already quantized ({', '.join(quantized) or 'int8'} nodes); "
                                f"{what} needs the FP32 model it came from")
    if source.artifact.precision != "fp32":
        name = source.artifact.precision.upper()
        raise InvalidInputError(f"'{source.path}' is already {'an' if name[0] in 'FI' else 'a'} {name} model; {what} "
                                "needs the FP32 model it came from")




# What a converted model keeps from its source's sidecar (the rest it records itself).
INHERITED = ("architecture", "model_kwargs", "input_spec", "trained", "checkpoint", "checkpoint_sha256", "opset",
             "batch", "input_names", "output_names")


def output_meta(source: SourceModel, precision: str, **fields: Any) -> OnnxSidecar:
    """The converted model's sidecar: what it is, where it came from, how it was made
    (`fields`: the step's details, kept as extra fields)."""
    artifact = source.artifact
    sidecar = artifact.sidecar.to_dict() if artifact.sidecar is not None else {}
    inherited = {k: v for k, v in sidecar.items() if k in INHERITED}
    spec = recorded_spec(source)
    return OnnxSidecar.new(ONNX_KIND, None, **{
        **inherited,
        "architecture": artifact.architecture or sidecar.get("architecture"),
        "input_spec": spec.to_dict() if spec is not None else None,
        "precision": precision,
        "source": str(source.path.resolve()),  # made relative to the output's folder by write_model
        "source_sha256": artifact.sha256,
        "source_precision": artifact.precision,
        **fields,
    })


def write_model(output: Path, model: onnx.ModelProto, meta: OnnxSidecar) -> Path:
    """Save a converted model and its sidecar together (crash-consistent), checked by
    onnx.checker before it replaces anything."""
    def save(tmp: Path) -> None:
        onnx.save(model, str(tmp))
        onnx.checker.check_model(str(tmp))

    recorded = meta.source if isinstance(meta.source, str) else None
    meta = meta.model_copy(update={"source": relative_to_artifact(recorded, output) if recorded else None})
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
