"""What an exported model says about itself, inside the ONNX file (metadata_props).

The sidecar can be lost when a model is copied into a serving image; the metadata travels
inside the file, so `validate`, `precision`, `build` and `bench` can always find the
architecture, the input spec (size, channels, mean/std, layout, class names) and whether the
weights were trained. Values are strings (ONNX's rule); structured ones are JSON.
"""

from __future__ import annotations

import json
import os
from typing import Any

import onnx

from resnet_deploy.export.detect import detect_precision
from resnet_deploy.input_spec import IMAGENET_MEAN, IMAGENET_STD, InputSpec

# Keys written by export_onnx. JSON-encoded ones are decoded by read_onnx_metadata.
JSON_KEYS = ("input_spec", "model_kwargs", "class_names", "mean", "std", "input_names", "output_names")


def metadata_props(*, architecture: str, model_kwargs: dict[str, Any], input_spec: InputSpec, trained: bool,
                   checkpoint_sha256: str | None, checkpoint: str | None, precision: str, opset: int,
                   exporter: str, batch: str | int, features: bool, input_names: list[str],
                   output_names: list[str], versions: dict[str, str],
                   init_seed: int | None = None) -> dict[str, str]:
    """The string key/value pairs export_onnx stores in the model."""
    return {
        "producer": "resnet-deploy",
        "architecture": architecture,
        "model_kwargs": json.dumps(model_kwargs, sort_keys=True),
        "trained": "true" if trained else "false",
        "init_seed": "" if init_seed is None else str(init_seed),
        "checkpoint_sha256": checkpoint_sha256 or "",
        "checkpoint": checkpoint or "",
        "precision": precision,
        "input_spec": json.dumps(input_spec.to_dict()),
        "input_size": f"{input_spec.height}x{input_spec.width}",
        "channels": str(input_spec.channels),
        "mean": json.dumps(list(input_spec.mean)),
        "std": json.dumps(list(input_spec.std)),
        "layout": input_spec.layout,
        "class_names": json.dumps(list(input_spec.class_names)),
        "opset": str(opset),
        "exporter": exporter,
        "batch": str(batch),
        "features": "true" if features else "false",
        "input_names": json.dumps(input_names),
        "output_names": json.dumps(output_names),
        "toolkit_version": versions.get("resnet-deploy", ""),
        "torch_version": versions.get("torch", ""),
        "onnx_version": versions.get("onnx", ""),
    }


def set_metadata(model: onnx.ModelProto, props: dict[str, str]) -> None:
    """Replace the model's metadata_props with `props` (keys not in `props` are kept)."""
    existing = {p.key: p.value for p in model.metadata_props}
    existing.update(props)
    del model.metadata_props[:]
    for key, value in existing.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def raw_metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def _graph_input_spec(model: onnx.ModelProto) -> dict[str, Any] | None:
    """An input spec guessed from the graph's first input, for models not exported here."""
    if not model.graph.input:
        return None
    dims = [d.dim_value if d.HasField("dim_value") else None for d in model.graph.input[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or any(d is None for d in dims[1:]):
        return None
    channels, height, width = int(dims[1] or 0), int(dims[2] or 0), int(dims[3] or 0)
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if channels == 3 else ((0.5,) * channels, (0.5,) * channels)
    return InputSpec(channels, height, width, mean, std).to_dict()


def describe_metadata(model: onnx.ModelProto) -> dict[str, Any]:
    """Decode a loaded model's metadata (see read_onnx_metadata)."""
    raw = raw_metadata(model)
    decoded: dict[str, Any] = {}
    for key, value in raw.items():
        if key in JSON_KEYS:
            try:
                decoded[key] = json.loads(value)
            except json.JSONDecodeError:
                decoded[key] = value
        else:
            decoded[key] = value
    written_here = raw.get("producer") == "resnet-deploy"
    spec = decoded.get("input_spec") if isinstance(decoded.get("input_spec"), dict) else _graph_input_spec(model)
    return {
        "architecture": raw.get("architecture") or None,
        "model_kwargs": decoded.get("model_kwargs") if isinstance(decoded.get("model_kwargs"), dict) else {},
        "input_spec": spec,
        "input_spec_source": "metadata" if isinstance(decoded.get("input_spec"), dict) else ("graph" if spec else None),
        # Precision is read from the graph (README, "Design choices"): a converted model may carry copied props.
        "precision": detect_precision(model).precision,
        "recorded_precision": raw.get("precision") or None,
        "trained": raw.get("trained") == "true" if "trained" in raw else None,
        "init_seed": int(raw["init_seed"]) if raw.get("init_seed", "").isdigit() else None,
        "torch_version": raw.get("torch_version") or None,
        "checkpoint_sha256": raw.get("checkpoint_sha256") or None,
        "checkpoint": raw.get("checkpoint") or None,
        "opset": next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None),
        "exporter": raw.get("exporter") or None,
        "features": raw.get("features") == "true",
        "input_names": [i.name for i in model.graph.input],
        "output_names": [o.name for o in model.graph.output],
        "written_by_resnet_deploy": written_here,
        "props": raw,
    }


def read_onnx_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What export_onnx wrote into `path`: architecture, model_kwargs, input_spec (an
    InputSpec.from_dict-compatible dict, or one guessed from the input shape for foreign
    models), precision (read from the graph), trained, checkpoint_sha256, opset, exporter,
    input/output names, and the raw props. Refuses a bad file like load_onnx_model."""
    from resnet_deploy.export.loader import load_onnx_model

    return describe_metadata(load_onnx_model(path, load_external_data=False, check=False))
