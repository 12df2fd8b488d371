"""`resnet-deploy inspect model.onnx`: what is in an ONNX file, read from the file alone.

Opset, inputs and outputs with shapes, the op histogram, parameter count and MACs (computed
from the graph's Conv/Gemm/MatMul nodes and inferred shapes, so they describe this file, not
the PyTorch definition it came from), the metadata, the file size and external data use.
Weights are never loaded: shapes come from the initializers' dims, so a 3 GB model with
external data inspects as fast as a small one.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

import onnx
from onnx import TensorProto

from resnet_deploy.export.artifact import describe_metadata
from resnet_deploy.export.loader import external_data_files, load_onnx_model
from resnet_deploy.jsontypes import JsonObject

_WEIGHT_TYPES = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE,
                 TensorProto.INT8, TensorProto.UINT8}


def _shape(value: onnx.ValueInfoProto) -> list[int | str | None]:
    dims: list[int | str | None] = []
    for d in value.type.tensor_type.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or None))
    return dims


def _dtype(value: onnx.ValueInfoProto) -> str:
    return onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type).name


def parameter_count(model: onnx.ModelProto) -> int:
    """Elements of the weight initializers (floating point and 8-bit), leaving out Q/DQ
    scales and zero points and integer shape constants."""
    qdq_params = {name for node in model.graph.node if node.op_type in ("QuantizeLinear", "DequantizeLinear")
                  for name in node.input[1:]}
    return sum(math.prod(t.dims) for t in model.graph.initializer
               if t.data_type in _WEIGHT_TYPES and t.name not in qdq_params)


def _weight_dims(node: onnx.NodeProto, inits: dict[str, TensorProto], producers: dict[str, onnx.NodeProto]) -> list[int] | None:
    """The dims of the weight a compute node reads, through Cast/Identity/DequantizeLinear."""
    if len(node.input) < 2:
        return None
    name = node.input[1]
    for _ in range(4):
        if name in inits:
            return list(inits[name].dims)
        producer = producers.get(name)
        if producer is None or producer.op_type not in ("Cast", "Identity", "DequantizeLinear"):
            return None
        name = producer.input[0]
    return None


def count_graph_macs(model: onnx.ModelProto) -> tuple[int, list[str]]:
    """Multiply-accumulates per image of Conv, Gemm and MatMul nodes, from inferred shapes
    (a symbolic batch counts as 1). Returns (macs, nodes whose MACs could not be computed)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {v.name: _shape(v) for v in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]}
    inits = {t.name: t for t in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    total, unknown = 0, []
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul"):
            continue
        out = shapes.get(node.output[0])
        weight = _weight_dims(node, inits, producers)
        if not out or weight is None or any(not isinstance(d, int) for d in out[1:]):
            unknown.append(node.name or node.output[0])
            continue
        per_image = 1
        for d in out[1:]:
            per_image *= int(d)  # type: ignore[arg-type]
        if node.op_type == "Conv":
            total += per_image * math.prod(weight[1:])  # Cin/groups * kH * kW per output element
        elif node.op_type == "Gemm":
            trans_b = any(a.name == "transB" and a.i == 1 for a in node.attribute)
            total += per_image * (weight[1] if trans_b else weight[0])
        else:
            total += per_image * weight[0]
    return total, unknown


def definition_parameters(architecture: str, model_kwargs: dict[str, Any], features: bool = False) -> int | None:
    """Parameters of the PyTorch definition the model was exported from (BatchNorm's scale
    and shift included), as `resnet-deploy models` counts them; None for an architecture this
    version does not know. Default-size models come from the precomputed cost table; others
    are built on the meta device (no memory, no weights)."""
    from resnet_deploy.model_costs import cost_of

    record = cost_of(architecture)
    if record is None:
        return None
    defaults = {"num_classes": record.num_classes, "in_channels": record.input_chw[0]}
    if not features and set(model_kwargs) <= set(defaults) and all(
            model_kwargs.get(key, value) == value for key, value in defaults.items()):
        return record.params
    import torch

    from resnet_deploy.errors import ResnetDeployError
    from resnet_deploy.models import build_model

    try:
        with torch.device("meta"):
            model = build_model(architecture, **model_kwargs)
    except (ResnetDeployError, TypeError, ValueError):
        return None
    return sum(p.numel() for name, p in model.named_parameters() if not (features and name.startswith("fc.")))


def batchnorm_report(model: onnx.ModelProto, meta: JsonObject, parameters: int) -> JsonObject:
    """Whether BatchNorm was folded into the convolutions (the exporter does it: a graph of a
    registered ResNet without BatchNormalization nodes), and the parameter count before
    folding, which is what the definition (and `resnet-deploy models`) counts."""
    in_graph = sum(1 for node in model.graph.node if node.op_type == "BatchNormalization")
    architecture = meta.get("architecture")
    unfolded = (definition_parameters(architecture, dict(meta.get("model_kwargs") or {}), bool(meta.get("features")))
                if architecture else None)
    folded = in_graph == 0 and unfolded is not None and unfolded != parameters
    return {"nodes": in_graph, "folded": folded, "unfolded_parameters": unfolded if folded else None}


def inspect_onnx(path: str | os.PathLike[str]) -> JsonObject:
    """A JSON-ready description of the model at `path` (see the module docstring)."""
    path = Path(path)
    model = load_onnx_model(path, load_external_data=False, check=False)
    meta = describe_metadata(model, path)
    external = external_data_files(model)
    macs, unknown = count_graph_macs(model)
    parameters = parameter_count(model)
    return {
        "path": str(path),
        "file_size": path.stat().st_size,
        "external_data": [{"file": name, "size": (path.parent / name).stat().st_size if (path.parent / name).exists() else None}
                          for name in external],
        "ir_version": model.ir_version,
        "opset": {(o.domain or "ai.onnx"): o.version for o in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "inputs": [{"name": v.name, "dtype": _dtype(v), "shape": _shape(v)} for v in model.graph.input],
        "outputs": [{"name": v.name, "dtype": _dtype(v), "shape": _shape(v)} for v in model.graph.output],
        "nodes": len(model.graph.node),
        "op_histogram": dict(Counter(n.op_type for n in model.graph.node).most_common()),
        "parameters": parameters,
        "batchnorm": batchnorm_report(model, meta, parameters),
        "macs_per_image": macs,
        "macs_unknown_nodes": unknown,
        "precision": meta["precision"],
        "metadata": {k: v for k, v in meta.items() if k != "props"},
        "metadata_props": meta["props"],
    }


def _shape_text(shape: list[Any]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def _parameters_text(report: JsonObject) -> str:
    text = f"parameters: {report['parameters']:,}"
    batchnorm = report.get("batchnorm") or {}
    if batchnorm.get("folded"):
        architecture = report["metadata"].get("architecture")
        text += (f" (BatchNorm folded into the convolutions at export; the {architecture} definition has "
                 f"{batchnorm['unfolded_parameters']:,} with BatchNorm's scale and shift, the count "
                 "`resnet-deploy models` shows)")
    return text


def format_inspect(report: JsonObject) -> str:
    """The report as text for people (class names summarised, JSON values kept short)."""
    from resnet_deploy.render import Column, render_table

    size = report["file_size"]
    lines = [f"{report['path']}: {size / 1e6:.1f} MB, IR {report['ir_version']}, opset "
             + ", ".join(f"{d} {v}" for d, v in report["opset"].items()) + f", producer {report['producer'] or '?'}"]
    if report["external_data"]:
        lines.append("external data: " + ", ".join(f"{e['file']} ({(e['size'] or 0) / 1e6:.1f} MB)" for e in report["external_data"]))
    else:
        lines.append("external data: none (single file)")
    lines.append("")
    rows = [["input", t["name"], t["dtype"], _shape_text(t["shape"])] for t in report["inputs"]]
    rows += [["output", t["name"], t["dtype"], _shape_text(t["shape"])] for t in report["outputs"]]
    lines.append(render_table([Column("tensor"), Column("name"), Column("dtype"), Column("shape")], rows))
    lines.append("")
    macs = report["macs_per_image"]
    lines.append(_parameters_text(report))
    lines.append(f"MACs per image: {macs / 1e9:.3f} G"
                 + (f" ({len(report['macs_unknown_nodes'])} nodes with unknown shapes)" if report["macs_unknown_nodes"] else "")
                 + f"; precision (from the graph): {report['precision']}")
    lines.append(f"nodes: {report['nodes']}; ops: " + ", ".join(f"{op} {n}" for op, n in report["op_histogram"].items()))
    props = dict(report["metadata_props"])
    rows = []
    for key, value in props.items():
        if key == "class_names":
            count = len(report["metadata"].get("input_spec", {}).get("class_names", []) or [])
            value = f"{count} classes" if count else value
        elif key == "input_spec":
            continue
        rows.append([key, value if len(value) <= 100 else value[:97] + "..."])
    if rows:
        lines += ["", render_table([Column("metadata"), Column("value", align="left")], rows)]
    return "\n".join(lines)
