"""What one side of a comparison is: an ONNX model, a TensorRT plan, a checkpoint or a model
name, the backend it runs on, and what its metadata says (architecture, input, precision,
where it came from). The default reference of an artifact comes from here too."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resnet_deploy.backends.registry import DEFAULT_BACKEND, RunOptions, artifact_kind, get_backend
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.input_spec import InputSpec, default_input_spec
from resnet_deploy.sidecar import resolve_recorded

log = logging.getLogger(__name__)


@dataclass
class Target:
    """`source` (a path, or a registry model name) run by `backend`."""

    source: str
    kind: str                       # onnx, plan or checkpoint (a checkpoint file or a model name)
    backend: str
    precision: str
    architecture: str | None
    input_spec: InputSpec | None
    meta: dict[str, Any] = field(default_factory=dict, repr=False)
    features: bool = False
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    run_precision: str | None = None  # computed from the FP32 model by the backend (RunOptions.precision)
    ran_precision: str | None = None  # what the runner says it really ran (set after running)

    @property
    def label(self) -> str:
        return f"{Path(self.source).name} on {self.backend}"

    def run_options(self, threads: int | None, spec: InputSpec | None) -> RunOptions:
        """What the runner needs beyond the artifact: for torch, the input size the other side
        was exported at, the model's constructor arguments and the backbone switch."""
        info = get_backend(self.backend)
        extra: dict[str, Any] = {}
        size = None
        if info.artifact == "checkpoint":
            if spec is not None:
                size = (spec.height, spec.width)
            if self.features:
                extra["features"] = True
            if not Path(self.source).exists():  # a model name: its constructor arguments
                extra.update({k: v for k, v in self.model_kwargs.items() if k in ("num_classes", "in_channels")})
        return RunOptions(threads=threads if "threads" in info.options else None,
                          input_size=size if "input_size" in info.options else None, precision=self.run_precision,
                          extra=extra)

    def ask_precision(self, precision: str | None) -> None:
        """Run this side in `precision` (computed by its backend from the model); refuses a
        backend that cannot (one line, exit 2)."""
        if precision is None:
            return
        from resnet_deploy.backends.registry import check_run_precision

        check_run_precision(self.backend, precision)
        self.run_precision = precision

    def learn_ran(self, runner: dict[str, Any]) -> None:
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

    def describe(self) -> dict[str, Any]:
        data = {"source": self.source, "kind": self.kind, "backend": self.backend, "precision": self.judged_precision,
                "graph_precision": self.precision, "architecture": self.architecture, "features": self.features}
        if self.run_precision is not None:
            data["run_precision_asked"] = self.run_precision
        return data


def _spec(data: Any) -> InputSpec | None:
    if isinstance(data, dict):
        try:
            return InputSpec.from_dict(data)
        except (InvalidInputError, KeyError, TypeError):
            return None
    return None


def describe_target(source: str | os.PathLike[str], backend: str | None = None) -> Target:
    """Read what `source` is. `backend` defaults to the artifact's natural runtime (ort-cpu
    for ONNX, tensorrt for plans, torch for checkpoints and model names)."""
    text = os.fspath(source)
    kind = artifact_kind(text)
    backend = backend or DEFAULT_BACKEND[kind]
    info = get_backend(backend)
    if info.artifact != kind:
        raise InvalidInputError(f"backend '{backend}' does not run '{text}' ({kind}); it runs {info.artifact} "
                                f"artifacts", param="backend")
    if kind == "onnx":
        from resnet_deploy.export.metadata import read_onnx_metadata

        meta = read_onnx_metadata(text)
        return Target(text, kind, backend, meta["precision"], meta.get("architecture"), _spec(meta.get("input_spec")),
                      meta, bool(meta.get("features")), dict(meta.get("model_kwargs") or {}))
    if kind == "plan":
        from resnet_deploy.runtime.plan_meta import load_plan_meta

        plan = load_plan_meta(text)
        data = plan.model_dump()
        return Target(text, kind, backend, plan.precision, plan.architecture, _spec(plan.input_spec), data,
                      model_kwargs=dict(data.get("model_kwargs") or {}))
    path = Path(text)
    if path.exists() or path.suffix in (".safetensors", ".pth", ".pt"):
        if path.suffix in (".pth", ".pt"):
            raise InvalidInputError(f"'{path}' holds bare weights; export it first or name the model (`reference`)",
                                    param="reference")
        from resnet_deploy.train.checkpoint import checkpoint_meta

        meta = checkpoint_meta(path)
        return Target(text, kind, backend, "fp32", meta["architecture"]["name"], _spec(meta.get("input_spec")), meta,
                      model_kwargs=dict(meta["architecture"].get("kwargs") or {}))
    from resnet_deploy.models import get_entry

    entry = get_entry(text)
    spec = default_input_spec(3, entry.input_size, entry.default_classes)
    return Target(entry.name, kind, backend, "fp32", entry.name, spec)


def default_reference(target: Target, notes: list[str]) -> tuple[str, dict[str, Any]]:
    """The reference recorded in the target's metadata, and the constructor arguments it
    needs: an ONNX model's checkpoint (or, for an untrained export, the seeded network it
    holds), a plan's source ONNX model. Checkpoints and model names record none."""
    if target.kind == "onnx":
        meta = target.meta
        recorded = meta.get("checkpoint")
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
        if meta.get("trained") is False and meta.get("init_seed") is not None and target.architecture:
            import torch

            if meta.get("torch_version") and meta["torch_version"] != torch.__version__:
                notes.append(f"the model was exported with torch {meta['torch_version']}, this is {torch.__version__}: "
                             "rebuilt untrained weights may differ")
            notes.append(f"reference: the seeded untrained {target.architecture} the model was exported from")
            return target.architecture, dict(meta.get("model_kwargs") or {})
        if meta.get("trained") is False:
            raise InvalidInputError(f"'{target.source}' holds untrained {target.architecture} weights without a recorded "
                                    "seed, so PyTorch cannot rebuild them; re-export it with this version")
        raise InvalidInputError(f"'{target.source}' does not say where it came from (not exported by resnet-deploy); "
                                "give the `reference`", param="reference")
    if target.kind == "plan":
        source = (target.meta.get("source_onnx") or {}).get("path")
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
    expected = model.meta.get("checkpoint_sha256")
    actual = reference.meta.get("sha256") if reference.kind == "checkpoint" else None
    if expected and actual and expected != actual:
        log.warning("%s was not exported from %s (checkpoint sha256 differs)", model.source, reference.source)
