"""What one side of a comparison is: an ONNX model, a TensorRT plan, a checkpoint or a model
name, the backend it runs on, and what its metadata says (architecture, input, precision,
where it came from). The default reference of an artifact comes from here too."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from resnet_deploy.backends.registry import RunOptions, default_backend, get_backend
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.export.artifact import Artifact, artifact_kind, describe_artifact
from resnet_deploy.export.plan_record import PlanSidecar
from resnet_deploy.input_spec import InputSpec
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.sidecar import resolve_recorded

log = logging.getLogger(__name__)


@dataclass
class Target:
    """An artifact (export.artifact.describe_artifact) run by `backend`. `model_kwargs`: the
    constructor arguments a PyTorch side is rebuilt with; `features`: compare backbones."""

    artifact: Artifact
    backend: str
    features: bool = False
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    run_precision: str | None = None  # computed from the FP32 model by the backend (RunOptions.precision)
    ran_precision: str | None = None  # what the runner says it really ran (set after running)

    @property
    def source(self) -> str:
        return self.artifact.source

    @property
    def kind(self) -> str:
        """onnx, plan or checkpoint (a checkpoint file or a model name)."""
        return self.artifact.runs_as

    @property
    def precision(self) -> str:
        return self.artifact.precision

    @property
    def architecture(self) -> str | None:
        return self.artifact.architecture

    @property
    def input_spec(self) -> InputSpec | None:
        return self.artifact.input_spec

    @property
    def label(self) -> str:
        return f"{Path(self.source).name} on {self.backend}"

    @property
    def meta(self) -> JsonObject:
        """What the artifact records, as JSON (an ONNX model's metadata, a plan's or a
        checkpoint's sidecar; empty for a model name): saved outputs' lineage and the
        per-layer comparison read it."""
        if self.artifact.metadata is not None:
            return self.artifact.metadata.to_dict()
        if self.artifact.sidecar is not None:
            data: JsonObject = self.artifact.sidecar.model_dump()
            return data
        return {}

    def run_options(self, threads: int | None, spec: InputSpec | None) -> RunOptions:
        """What the runner needs beyond the artifact: for torch, the input size the other side
        was exported at, the model's constructor arguments and the backbone switch."""
        info = get_backend(self.backend)
        options = RunOptions(threads=threads if "threads" in info.options else None, precision=self.run_precision)
        if info.artifact != "checkpoint":
            return options
        kwargs = self.model_kwargs if self.artifact.kind == "model" else {}  # a model name: its constructor arguments
        return replace(options, input_size=(spec.height, spec.width) if spec is not None else None,
                       features=self.features, num_classes=kwargs.get("num_classes"),
                       in_channels=kwargs.get("in_channels"))

    def ask_precision(self, precision: str | None) -> None:
        """Run this side in `precision` (computed by its backend from the model); refuses a
        backend that cannot (one line, exit 2)."""
        if precision is None:
            return
        from resnet_deploy.backends.registry import check_run_precision

        check_run_precision(self.backend, precision)
        self.run_precision = precision

    def learn_ran(self, runner: JsonObject) -> None:
        """Record what the runner really ran (OpenVINO reads it back from the compiled model;
        torch names its autocast); the precision that judges this side follows it."""
        ran = runner.get("precision")
        if isinstance(ran, str):
            self.ran_precision = ran

    @property
    def judged_precision(self) -> str:
        """The least exact of the graph's precision and the one the runtime computed in."""
        from resnet_deploy.compare.stats import lower_precision

        return lower_precision(self.precision, *([self.ran_precision] if self.ran_precision else []))

    def describe(self) -> JsonObject:
        data = {"source": self.source, "kind": self.kind, "backend": self.backend, "precision": self.judged_precision,
                "graph_precision": self.precision, "architecture": self.architecture, "features": self.features}
        if self.run_precision is not None:
            data["run_precision_asked"] = self.run_precision
        return data


def describe_target(source: str | os.PathLike[str], backend: str | None = None,
                    model_kwargs: dict[str, Any] | None = None) -> Target:
    """Read what `source` is. `backend` defaults to the artifact's natural runtime (ort-cpu
    for ONNX, tensorrt for plans, torch for checkpoints and model names)."""
    text = os.fspath(source)
    kind = artifact_kind(text)
    backend = backend or default_backend(kind)
    info = get_backend(backend)
    if info.artifact != kind:
        raise InvalidInputError(f"backend '{backend}' does not run '{text}' ({kind}); it runs {info.artifact} "
                                f"artifacts", param="backend")
    artifact = describe_artifact(text, model_kwargs=model_kwargs)
    if artifact.kind == "weights":
        raise InvalidInputError(f"'{text}' holds bare weights; export it first or name the model (`reference`)",
                                param="reference")
    return Target(artifact, backend, artifact.features, dict(artifact.model_kwargs))


def default_reference(target: Target, notes: list[str]) -> tuple[str, dict[str, Any]]:
    """The reference recorded in the target's metadata, and the constructor arguments it
    needs: an ONNX model's checkpoint (or, for an untrained export, the seeded network it
    holds), a plan's source ONNX model. Checkpoints and model names record none."""
    meta = target.artifact.metadata
    if meta is not None:
        recorded = meta.checkpoint
        if recorded:
            path = resolve_recorded(recorded, target.source)
            if not path.is_file() and Path(recorded).is_file():
                path = Path(recorded)  # recorded relative to the working folder by an older version
            if path.is_file():
                notes.append(f"reference: the checkpoint recorded in the model, {path}")
                return str(path), {}
            raise InvalidInputError(f"'{target.source}' holds trained {target.architecture} weights but its checkpoint "
                                    f"'{recorded}' is not here; give the `reference` (a checkpoint or an ONNX model)",
                                    param="reference")
        if meta.trained is False and meta.init_seed is not None and target.architecture:
            import torch

            if meta.torch_version and meta.torch_version != torch.__version__:
                notes.append(f"the model was exported with torch {meta.torch_version}, this is {torch.__version__}: "
                             "rebuilt untrained weights may differ")
            notes.append(f"reference: the seeded untrained {target.architecture} the model was exported from")
            return target.architecture, dict(meta.model_kwargs)
        if meta.trained is False:
            raise InvalidInputError(f"'{target.source}' holds untrained {target.architecture} weights without a recorded "
                                    "seed, so PyTorch cannot rebuild them; re-export it with this version")
        raise InvalidInputError(f"'{target.source}' does not say where it came from (not exported by resnet-deploy); "
                                "give the `reference`", param="reference")
    plan = target.artifact.sidecar
    if isinstance(plan, PlanSidecar):
        source = (plan.source_onnx or {}).get("path")
        if source:
            path = resolve_recorded(source, target.source)
            if not path.is_file() and Path(source).is_file():
                path = Path(source)
            if path.is_file():
                notes.append(f"reference: the ONNX model the plan was built from, {path}")
                return str(path), {}
        raise InvalidInputError(f"the ONNX model plan '{target.source}' was built from is not here; give the "
                                "`reference`", param="reference")
    raise InvalidInputError(f"'{target.source}' records no reference; give the `reference` to compare it with",
                            param="reference")


def comparison_spec(model: Target, reference: Target, input_size: tuple[int, int] | None) -> InputSpec:
    """The input both sides are fed: the model's at `input_size` (or the size it records),
    else, when the model does not say, the reference's."""
    try:
        return model.artifact.spec_at(input_size, who=model.source)
    except InvalidInputError as exc:
        if input_size is not None or exc.param != "input_size":
            raise
        try:
            return reference.artifact.spec_at(None, who=reference.source)
        except InvalidInputError:
            raise exc from None


def check_same_model(model: Target, reference: Target) -> None:
    """Refuse comparing different architectures (an ONNX resnet56 against a resnet20
    checkpoint would only ever report a meaningless mismatch)."""
    if model.architecture and reference.architecture and model.architecture != reference.architecture:
        raise InvalidInputError(f"'{model.source}' is a {model.architecture} but the reference '{reference.source}' is a "
                                f"{reference.architecture}; give the reference it was made from", param="reference")
    for what in ("num_classes", "in_channels"):
        mine, theirs = model.model_kwargs.get(what), reference.model_kwargs.get(what)
        if mine is not None and theirs is not None and mine != theirs:
            raise InvalidInputError(f"'{model.source}' and the reference '{reference.source}' differ in {what} "
                                    f"({mine} vs {theirs}); give the reference it was made from", param="reference")
    if model.input_spec and reference.input_spec and model.input_spec.channels != reference.input_spec.channels:
        raise InvalidInputError(f"'{model.source}' takes {model.input_spec.channels}-channel images but the reference "
                                f"'{reference.source}' takes {reference.input_spec.channels}; the models differ",
                                param="reference")
    expected = model.artifact.metadata.checkpoint_sha256 if model.artifact.metadata is not None else None
    actual = reference.artifact.sha256 if expected and reference.artifact.kind == "checkpoint" else None
    if expected and actual and expected != actual:
        log.warning("%s was not exported from %s (checkpoint sha256 differs)", model.source, reference.source)
