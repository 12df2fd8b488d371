"""What a TensorRT plan's sidecar holds, as typed records, read without TensorRT.

Kept below the backends and the builder (in the export layer, beside the ONNX metadata) so
that anything describing an artifact (export.artifact) reads a plan the way the builder
wrote it, and running a plan never needs the builder's module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from resnet_deploy.atomic import sidecar_path
from resnet_deploy.errors import ArtifactError
from resnet_deploy.input_spec import InputSpec
from resnet_deploy.jsonfile import first_problem
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.sidecar import AccuracyRecord, Sidecar, artifact_meta, read_sidecar, require_file

PLAN_KIND = "plan"
_REQUIRED = ("tensorrt_version", "profile", "io_tensors", "precision")


class TensorRecord(BaseModel):
    """One tensor of a layer, as the plan's sidecar stores it (TensorReport.to_dict())."""

    model_config = ConfigDict(extra="allow")
    name: str = ""
    dtype: str | None = None
    format: str | None = None
    shape: list[int] | None = None


class LayerRecord(BaseModel):
    """One layer of the stored engine report (LayerReport.to_dict())."""

    model_config = ConfigDict(extra="allow")
    name: str = ""
    type: str = ""
    precision: str | None = None
    tactic: str | None = None
    convolution: bool = False
    weights: str | None = None
    origin: str | None = None
    inputs: list[TensorRecord] = Field(default_factory=list)
    outputs: list[TensorRecord] = Field(default_factory=list)


class EngineRecord(BaseModel):
    """The engine-inspector report as the plan's sidecar stores it under "layers"
    (EngineReport.to_dict(); the counts are derived and re-computed on reading)."""

    model_config = ConfigDict(extra="allow")
    detailed: bool = True
    io_tensors: list[str] = Field(default_factory=list)
    layers: list[LayerRecord] = Field(default_factory=list)



class GpuRecord(BaseModel):
    """The GPU a plan was built on."""

    model_config = ConfigDict(extra="allow")
    index: int | None = None
    name: str | None = None
    compute_capability: str | None = None
    memory_gib: float | None = None


class ShapeRange(BaseModel):
    """One input's optimization-profile shapes."""

    min: list[int]
    opt: list[int]
    max: list[int]


class IOTensorRecord(BaseModel):
    name: str
    mode: Literal["input", "output"]
    dtype: str
    shape: list[int]


class PlanSidecar(Sidecar):
    """`<plan>.json` as build_engine writes it. Fields this version does not model are kept
    (`extra="allow"`), so a newer writer's additions survive; the ones the checks and the
    report read are typed, so a hand-edited sidecar is refused at the door in one line."""

    model_config = ConfigDict(extra="allow")
    kind: str = PLAN_KIND
    tensorrt_version: str
    precision: str
    profile: dict[str, ShapeRange]
    io_tensors: list[IOTensorRecord]
    gpu: GpuRecord = Field(default_factory=GpuRecord)
    version_compatible: bool = False
    hardware_compatibility: str | None = None
    layers: EngineRecord | None = None
    precision_check: JsonObject | None = None
    precision_step: JsonObject | None = None
    source_onnx: JsonObject | None = None
    architecture: str | None = None
    input_spec: InputSpec | None = None
    build_seconds: float | None = None
    accuracy: AccuracyRecord | None = None  # `resnet-deploy accuracy --record` (precision.accuracy)


def parse_plan_sidecar(meta: Mapping[str, Any] | Sidecar, *, what: str = "the plan's sidecar") -> PlanSidecar:
    """Validate a sidecar (a record read as any kind, or a mapping): ArtifactError naming the
    first bad field (one line)."""
    if isinstance(meta, PlanSidecar):
        return meta
    if isinstance(meta, Sidecar):
        meta = meta.to_dict()
    missing = [key for key in _REQUIRED if key not in meta]
    if missing:
        raise ArtifactError(f"{what} lacks {', '.join(missing)}; it was not written by resnet-deploy build: "
                            "rebuild the plan")
    try:
        return PlanSidecar.model_validate(dict(meta))
    except ValidationError as exc:
        raise ArtifactError(f"{what} is not valid: {first_problem(exc)}; rebuild the plan") from exc


def load_plan_meta(path: str | os.PathLike[str], *, verify: bool = True) -> PlanSidecar:
    """The sidecar of plan `path`, validated, after checking the plan exists and matches its
    sha256 (the `previous` record after an interrupted write: sidecar.artifact_meta).

    ArtifactError (exit 2), one line, for a missing plan, a missing/corrupt/wrong-kind
    sidecar, a sidecar without the plan fields or with a malformed one (a hand-edited
    `"layers": "garbage"`), or a plan whose bytes changed.
    """
    path = require_file(path, "plan", if_empty="rebuild it with resnet-deploy build")
    raw = artifact_meta(path, kind=PLAN_KIND) if verify else read_sidecar(path, kind=PLAN_KIND)
    assert raw is not None
    meta = parse_plan_sidecar(raw, what=f"sidecar '{sidecar_path(path)}'")
    if verify and not meta.sha256:
        raise ArtifactError(f"sidecar '{sidecar_path(path)}' has no sha256 of the plan; rebuild the plan")
    return meta
