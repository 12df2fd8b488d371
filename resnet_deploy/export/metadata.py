"""What an exported model says about itself, inside the ONNX file (metadata_props).

The sidecar can be lost when a model is copied into a serving image; the metadata travels
inside the file, so `validate`, `precision`, `build` and `bench` can always find the
architecture, the input spec (size, channels, mean/std, layout, class names) and whether the
weights were trained. Values are strings (ONNX's rule); structured ones are JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

import onnx

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.export.detect import detect_precision
from resnet_deploy.input_spec import InputSpec
from resnet_deploy.jsontypes import JsonObject

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


@dataclass(frozen=True)
class OnnxMetadata:
    """What an ONNX model says about itself. `input_spec` is the recorded one (None for
    models not exported here); precision is read from the graph (README, "Design choices": a
    converted model may carry copied props), `recorded_precision` is what the props say."""

    architecture: str | None
    model_kwargs: dict[str, Any]
    input_spec: InputSpec | None
    precision: str
    recorded_precision: str | None
    trained: bool | None
    init_seed: int | None
    torch_version: str | None
    checkpoint_sha256: str | None
    checkpoint: str | None
    opset: int | None
    exporter: str | None
    features: bool
    batch: str | None
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    written_by_resnet_deploy: bool
    props: dict[str, str] = field(repr=False)

    def to_dict(self) -> JsonObject:
        """The JSON view read_onnx_metadata returns (the input spec as a dict)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["input_spec"] = self.input_spec.to_dict() if self.input_spec is not None else None
        data["input_names"], data["output_names"] = list(self.input_names), list(self.output_names)
        return data


def _decoded(raw: dict[str, str], key: str) -> Any:
    try:
        return json.loads(raw[key]) if key in raw else None
    except json.JSONDecodeError:
        return None


def read_metadata(model: onnx.ModelProto) -> OnnxMetadata:
    """Decode a loaded model's metadata."""
    raw = raw_metadata(model)
    spec_data, kwargs = _decoded(raw, "input_spec"), _decoded(raw, "model_kwargs")
    spec = None
    if isinstance(spec_data, dict):
        try:
            spec = InputSpec.from_dict(spec_data)
        except InvalidInputError:
            spec = None
    return OnnxMetadata(
        architecture=raw.get("architecture") or None,
        model_kwargs=kwargs if isinstance(kwargs, dict) else {},
        input_spec=spec,
        precision=detect_precision(model).precision,
        recorded_precision=raw.get("precision") or None,
        trained=raw.get("trained") == "true" if "trained" in raw else None,
        init_seed=int(raw["init_seed"]) if raw.get("init_seed", "").isdigit() else None,
        torch_version=raw.get("torch_version") or None,
        checkpoint_sha256=raw.get("checkpoint_sha256") or None,
        checkpoint=raw.get("checkpoint") or None,
        opset=next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None),
        exporter=raw.get("exporter") or None,
        features=raw.get("features") == "true",
        batch=raw.get("batch") or None,
        input_names=tuple(i.name for i in model.graph.input),
        output_names=tuple(o.name for o in model.graph.output),
        written_by_resnet_deploy=raw.get("producer") == "resnet-deploy",
        props=raw,
    )
