"""TensorRT's engine-inspector JSON -> a per-layer report, and the check that answers "did my
INT8 (or FP16) convolutions really run in INT8 (or FP16)?".

Pure functions over JSON (no TensorRT), so they are unit-tested on a CPU machine with
inspector output in the documented formats:
- TensorRT 10: `{"Layers": [...], "Bindings": ["input", "logits"]}`; each tensor of a layer
  has "Format/Datatype" ("Channel major FP16 format where channel % 8 == 0", "Thirty-two wide
  channel vectorized row major Int8 format", "Row major linear FP32 format (kLINEAR)").
- TensorRT 11: "Bindings" became "I/O Tensors" (a list of objects), and a tensor's
  "Format/Datatype" became two fields, "Format" and "Datatype".
Layers only carry names, types and tactics when the engine was built with
ProfilingVerbosity.DETAILED (the builder always sets it).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from resnet_deploy.errors import ArtifactError
from resnet_deploy.export.plan_record import EngineRecord, LayerRecord, TensorRecord
from resnet_deploy.jsonfile import first_problem, parse_json
from resnet_deploy.jsontypes import JsonObject

# Checked in this order: "UINT8" contains "INT8", "BFLOAT16" contains "FLOAT".
_DTYPE_TOKENS: tuple[tuple[str, str], ...] = (
    ("UINT8", "uint8"), ("BFLOAT16", "bf16"), ("BF16", "bf16"), ("FP8", "fp8"), ("FLOAT8", "fp8"), ("E4M3", "fp8"),
    ("INT4", "int4"), ("FP4", "fp4"), ("INT8", "int8"), ("INT32", "int32"), ("INT64", "int64"), ("BOOL", "bool"),
    ("FP16", "fp16"), ("HALF", "fp16"), ("FLOAT16", "fp16"), ("FP32", "fp32"), ("FLOAT", "fp32"),
)
# Which layer precisions satisfy what the model asked for (lower precision is never a miss).
ACCEPTED = {"fp16": {"fp16", "int8", "fp8", "int4", "fp4"}, "bf16": {"bf16", "int8", "fp8", "int4", "fp4"},
            "int8": {"int8", "fp8", "int4", "fp4"}, "fp8": {"fp8", "fp4"}}
_NOT_COMPUTE = re.compile(r"reformat|shuffle|noop|constant|copy|cast|identity|slice|shape", re.IGNORECASE)
_CONV_NAME = re.compile(r"(^|[/_ .+])conv(2d|olution)?($|[/_ .:0-9+\]])", re.IGNORECASE)


class InspectorJson(BaseModel):
    """TensorRT's own `get_engine_information(JSON)` output: only its shape is checked here;
    the layers' fields differ between TensorRT 10 and 11 and are read by `_layer`."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    layers: list[dict[str, Any] | str] = Field(alias="Layers")
    bindings: list[Any] | None = Field(default=None, alias="Bindings")
    io_tensors: list[Any] | None = Field(default=None, alias="I/O Tensors")


def dtype_from_text(text: str | None) -> str | None:
    """"Channel major FP16 format ..." -> "fp16"; "Int8" -> "int8"; None/"N/A" -> None."""
    if not text:
        return None
    upper = str(text).upper()
    for token, dtype in _DTYPE_TOKENS:
        if token in upper:
            return dtype
    return None


@dataclass(frozen=True)
class TensorReport:
    name: str
    dtype: str | None
    format: str | None
    shape: tuple[int, ...] | None

    def to_dict(self) -> JsonObject:
        return {"name": self.name, "dtype": self.dtype, "format": self.format,
                "shape": list(self.shape) if self.shape is not None else None}


@dataclass(frozen=True)
class LayerReport:
    name: str
    layer_type: str
    precision: str | None
    tactic: str | None
    is_convolution: bool
    inputs: tuple[TensorReport, ...] = ()
    outputs: tuple[TensorReport, ...] = ()
    weights_dtype: str | None = None
    origin: str | None = None  # the ONNX node(s) it came from ("Metadata")

    def to_dict(self) -> JsonObject:
        return {"name": self.name, "type": self.layer_type, "precision": self.precision, "tactic": self.tactic,
                "convolution": self.is_convolution, "weights": self.weights_dtype, "origin": self.origin,
                "inputs": [t.to_dict() for t in self.inputs], "outputs": [t.to_dict() for t in self.outputs]}

    @classmethod
    def from_record(cls, record: LayerRecord) -> LayerReport:
        def tensors(items: list[TensorRecord]) -> tuple[TensorReport, ...]:
            return tuple(TensorReport(t.name, t.dtype, t.format, tuple(t.shape) if t.shape is not None else None)
                         for t in items)
        return cls(record.name, record.type, record.precision, record.tactic, record.convolution,
                   tensors(record.inputs), tensors(record.outputs), record.weights, record.origin)


@dataclass(frozen=True)
class EngineReport:
    layers: tuple[LayerReport, ...]
    io_tensors: tuple[str, ...]
    detailed: bool  # False when the engine was built without DETAILED profiling verbosity

    def precision_counts(self, convolutions_only: bool = False) -> dict[str, int]:
        counts = Counter(layer.precision or "unknown" for layer in self.layers
                         if layer.is_convolution or not convolutions_only)
        return dict(sorted(counts.items()))

    def to_dict(self) -> JsonObject:
        return {"detailed": self.detailed, "io_tensors": list(self.io_tensors),
                "precision_counts": self.precision_counts(),
                "convolution_precision_counts": self.precision_counts(convolutions_only=True),
                "layers": [layer.to_dict() for layer in self.layers]}

    @classmethod
    def from_record(cls, record: EngineRecord) -> EngineReport:
        return cls(tuple(LayerReport.from_record(layer) for layer in record.layers), tuple(record.io_tensors),
                   record.detailed)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | EngineRecord, *, what: str = "the engine report") -> EngineReport:
        """The stored report (a sidecar's "layers"); ArtifactError, one line, when it is malformed."""
        if isinstance(data, EngineRecord):
            return cls.from_record(data)
        try:
            return cls.from_record(EngineRecord.model_validate(data))
        except ValidationError as exc:
            raise ArtifactError(f"{what} is not valid: {first_problem(exc)}") from exc


def _tensor(data: Any) -> TensorReport:
    if not isinstance(data, Mapping):
        return TensorReport(str(data), None, None, None)
    combined = data.get("Format/Datatype")
    dtype_text = data.get("Datatype", data.get("DataType"))
    fmt = data.get("Format")
    dtype = dtype_from_text(dtype_text) or dtype_from_text(combined) or dtype_from_text(fmt)
    dims = data.get("Dimensions")
    shape = tuple(int(d) for d in dims) if isinstance(dims, list) and all(isinstance(d, int) for d in dims) else None
    return TensorReport(str(data.get("Name", "")), dtype, str(combined or fmt) if (combined or fmt) else None, shape)


def _is_convolution(layer: Mapping[str, Any], name: str, layer_type: str, origin: str | None) -> bool:
    kinds = f"{layer_type} {layer.get('ParameterType', '')}"
    if "conv" in kinds.lower() and "deconv" not in kinds.lower():
        return True
    if _NOT_COMPUTE.search(layer_type) or _NOT_COMPUTE.search(name.split(" ")[0]):
        return False
    # Myelin-compiled layers have generic types ("gemm", "kgen"): fall back to the ONNX node names.
    return bool(_CONV_NAME.search(name) or (origin and _CONV_NAME.search(origin)))


def _layer(data: Any, index: int) -> LayerReport:
    if not isinstance(data, Mapping):  # LAYER_NAMES_ONLY verbosity: just the name
        return LayerReport(str(data), "", None, None, False)
    name = str(data.get("Name", f"layer_{index}"))
    layer_type = str(data.get("LayerType", ""))
    inputs = tuple(_tensor(t) for t in data.get("Inputs", []) or [])
    outputs = tuple(_tensor(t) for t in data.get("Outputs", []) or [])
    weights = data.get("Weights")
    weights_dtype = dtype_from_text(weights.get("Type")) if isinstance(weights, Mapping) else None
    metadata = data.get("Metadata")
    origin = str(metadata).strip() if metadata else None
    is_conv = _is_convolution(data, name, layer_type, origin)
    # The math precision: the weights' type where TensorRT reports it, else the first typed input.
    precision = weights_dtype if is_conv and weights_dtype else None
    if precision is None:
        precision = next((t.dtype for t in inputs if t.dtype), None) or next((t.dtype for t in outputs if t.dtype), None)
    tactic = data.get("TacticName") or data.get("TacticValue")
    return LayerReport(name, layer_type, precision, str(tactic) if tactic is not None else None, is_conv,
                       inputs, outputs, weights_dtype, origin)


def parse_engine_information(info: str | Mapping[str, Any]) -> EngineReport:
    """Parse `IEngineInspector.get_engine_information(LayerInformationFormat.JSON)` (10.x or 11.x)."""
    what = "TensorRT's engine inspector JSON"
    if isinstance(info, str):
        raw = parse_json(info, InspectorJson, what=what)
    else:
        try:
            raw = InspectorJson.model_validate(info)
        except ValidationError as exc:
            raise ArtifactError(f"{what} is not valid: {first_problem(exc)}") from exc
    layers = tuple(_layer(layer, i) for i, layer in enumerate(raw.layers))
    io_raw = raw.bindings if raw.bindings is not None else raw.io_tensors
    io_tensors = tuple(str(t.get("Name", "")) if isinstance(t, Mapping) else str(t) for t in io_raw or [])
    detailed = any(isinstance(layer, Mapping) for layer in raw.layers)
    return EngineReport(layers, io_tensors, detailed)


@dataclass(frozen=True)
class PrecisionCheck:
    """How many convolutions got the precision the model asked for; truthy when the check passes."""

    expected: str
    convolutions: int
    matching: int
    mismatched: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (layer, precision it got)
    ok: bool = True
    note: str = ""

    def __bool__(self) -> bool:
        return self.ok

    @property
    def fraction(self) -> float | None:
        return self.matching / self.convolutions if self.convolutions else None

    def message(self, limit: int = 5) -> str:
        if self.ok:
            return self.note or f"{self.matching}/{self.convolutions} convolutions run in {self.expected}"
        shown = ", ".join(f"{name} ({got})" for name, got in self.mismatched[:limit])
        more = f" and {len(self.mismatched) - limit} more" if len(self.mismatched) > limit else ""
        return (f"only {self.matching} of {self.convolutions} convolutions run in {self.expected} as the model asks; "
                f"not in {self.expected}: {shown}{more}")

    def to_dict(self) -> JsonObject:
        return {"expected": self.expected, "convolutions": self.convolutions, "matching": self.matching,
                "fraction": self.fraction, "ok": self.ok, "note": self.note,
                "mismatched": [{"layer": name, "precision": got} for name, got in self.mismatched]}


def check_layer_precision(report: EngineReport | Sequence[LayerReport], expected: str,
                          min_fraction: float = 0.5) -> PrecisionCheck:
    """Fail when fewer than `min_fraction` of the convolutions got the model's precision.

    FP32 models always pass (nothing to lose). A report without per-layer detail, or without
    any recognisable convolution, passes with a note: the check cannot judge it.
    """
    layers = report.layers if isinstance(report, EngineReport) else tuple(report)
    if expected not in ACCEPTED:
        return PrecisionCheck(expected, 0, 0, note=f"{expected} model: no precision to verify")
    convs = [layer for layer in layers if layer.is_convolution]
    if not convs:
        return PrecisionCheck(expected, 0, 0, note="no convolution layers with precision detail in the inspector "
                                                   "report (engine not built with DETAILED verbosity?)")
    accepted = ACCEPTED[expected]
    mismatched = tuple((layer.name, layer.precision or "unknown") for layer in convs if layer.precision not in accepted)
    matching = len(convs) - len(mismatched)
    ok = matching >= min_fraction * len(convs) if min_fraction > 0 else True
    return PrecisionCheck(expected, len(convs), matching, mismatched, ok)
