"""What an ONNX model's sidecar (`model.onnx.json`) holds, as a typed record.

Two writers make it: export_onnx (an FP32 model from a checkpoint or a registry name) and
the precision steps (precision._model.output_meta: FP16, BF16, FP8, INT8 from an FP32 model,
with the step's own details, e.g. io_dtype or calibration, kept as extra fields as its
QuantizeResult.details reports them). Every field is optional: a sidecar written by an older
version, or by one writer and not the other, still reads. The model's metadata_props are the
authoritative copy of what it is (export.metadata); the sidecar adds lineage and how it was
made.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from resnet_deploy.input_spec import InputSpec
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.sidecar import AccuracyRecord, Sidecar

ONNX_KIND = "onnx"


class SourceRecord(BaseModel):
    """Where export_onnx took the weights from: a checkpoint (its path relative to the model
    and sha256) or a registry name (`untrained`, no path)."""

    model_config = ConfigDict(extra="allow")

    kind: str
    path: str | None = None
    sha256: str | None = None


class IoNames(BaseModel):
    """The graph's input and output names as export_onnx named them."""

    model_config = ConfigDict(extra="allow")

    inputs: list[str] = []
    outputs: list[str] = []


class OnnxSidecar(Sidecar):
    """`<model>.onnx.json`. `source` is a SourceRecord for an exported model and the FP32
    model's path (relative to this one) for a converted one, beside `source_sha256` and
    `source_precision`."""

    # `model_kwargs` is the network's, not pydantic's (which reserves model_ before 2.10).
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    kind: str = ONNX_KIND
    precision: str | None = None
    architecture: str | None = None
    model_kwargs: JsonObject | None = None
    input_spec: InputSpec | None = None
    trained: bool | None = None
    init_seed: int | None = None
    source: SourceRecord | str | None = None
    source_sha256: str | None = None
    source_precision: str | None = None
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    opset: int | None = None
    exporter: str | None = None
    batch: int | str | None = None  # a fixed batch, or "dynamic"
    features: bool | None = None
    io: IoNames | None = None
    input_names: list[str] | None = None
    output_names: list[str] | None = None
    simplified: bool | None = None
    folded_batchnorms: int | None = None
    remaining_batchnorms: int | None = None
    op_histogram: dict[str, int] | None = None
    external_data: list[str] = Field(default_factory=list)
    accuracy: AccuracyRecord | None = None
