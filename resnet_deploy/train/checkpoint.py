"""Checkpoints: safetensors weights plus a JSON sidecar that says how to rebuild the model.

Weights are safetensors (no pickle, so loading a checkpoint never runs code). The sidecar
`<checkpoint>.json` carries everything the later stages need without guessing: the registry
name and constructor arguments (num_classes, in_channels), the input spec (size, channels,
mean/std, class names), dataset, epoch, metrics, versions and the weights' sha256. Loading
checks the sidecar first and refuses a missing, corrupt, truncated or mismatched file with one
ArtifactError line.

Foreign `.pth` files (torchvision state dicts) load with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import nn

from resnet_deploy.errors import ArtifactError, InvalidInputError
from resnet_deploy.input_spec import InputSpec
from resnet_deploy.jsonfile import loads_json
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.sidecar import (
    Sidecar,
    artifact_meta,
    require_file,
    sha256_file,
    sidecar_path,
    write_artifact,
)

log = logging.getLogger(__name__)

CHECKPOINT_KIND = "checkpoint"
HEADER_KEY = "resnet_deploy"  # safetensors header entry holding the sidecar's JSON


class _Architecture(BaseModel):
    name: str
    kwargs: dict[str, Any] = {}


class CheckpointSidecar(Sidecar):
    """`<checkpoint>.json`: what the checkpoint must record to be rebuilt (architecture, input
    spec) and what it records about its training; a caller's `extra` fields are kept too."""

    model_config = ConfigDict(extra="allow")

    architecture: _Architecture
    input_spec: InputSpec
    num_classes: int | None = None
    dataset: str | None = None
    epoch: int | None = None
    metrics: JsonObject = Field(default_factory=dict)
    training: JsonObject | None = None  # the recipe (train.loop: epochs, batch size, lr, ...)
    torch_version: str | None = None


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt model (eval mode) and what its sidecar says."""

    model: nn.Module
    model_name: str
    model_kwargs: dict[str, Any]
    input_spec: InputSpec
    meta: CheckpointSidecar = field(repr=False)
    path: Path
    sha256: str

    @property
    def num_classes(self) -> int:
        return int(self.model_kwargs["num_classes"])


def unwrap_model(model: nn.Module) -> nn.Module:
    """The bare network inside DistributedDataParallel / DataParallel wrappers."""
    return getattr(model, "module", model)


def state_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU, contiguous (NCHW, not channels_last), detached copy of the state dict."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in unwrap_model(model).state_dict().items()}


def save_checkpoint(path: str | os.PathLike[str], model: nn.Module, *, model_name: str,
                    model_kwargs: Mapping[str, Any], input_spec: InputSpec, dataset: str | None,
                    epoch: int | None, metrics: Mapping[str, Any] | None,
                    extra: Mapping[str, Any] | None = None) -> Path:
    """Write `path` (.safetensors) atomically, then its sidecar `path.json`.

    `model_kwargs` must hold num_classes and in_channels: they are what `load_checkpoint`
    passes to `build_model(model_name, **model_kwargs)`.
    """
    from safetensors.torch import save_file

    missing = [k for k in ("num_classes", "in_channels") if k not in model_kwargs]
    if missing:
        raise InvalidInputError(f"model_kwargs for {model_name} must include {', '.join(missing)}")
    path = Path(path)
    tensors = state_tensors(model)
    fields = {
        "architecture": {"name": model_name, "kwargs": dict(model_kwargs)},
        "num_classes": int(model_kwargs["num_classes"]),
        "input_spec": input_spec.to_dict(),
        "dataset": dataset,
        "epoch": epoch,
        "metrics": dict(metrics or {}),
        "torch_version": torch.__version__,
    }
    meta = CheckpointSidecar.new(CHECKPOINT_KIND, None, **{**fields, **dict(extra or {})})
    # The sidecar also travels inside the file (the safetensors header), so a checkpoint
    # copied without its sidecar still loads.
    header = {"format": "pt", "model": model_name, HEADER_KEY: json.dumps(meta.to_dict(), default=str)}
    write_artifact(path, lambda tmp: save_file(tensors, str(tmp), metadata=header), meta)
    log.info("wrote checkpoint %s (epoch %s)", path, epoch)
    return path


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ArtifactError(f"checkpoint '{path}' is not a readable safetensors file ({exc}); it is truncated or corrupt") from exc


def load_checkpoint(path: str | os.PathLike[str], expected_model: str | None = None) -> Checkpoint:
    """Rebuild the model a checkpoint describes and load its weights (eval mode).

    Refuses (ArtifactError, one line): a missing file, a missing or corrupt sidecar, a sha256
    mismatch, an unreadable safetensors file, weights that don't fit the architecture, and
    an architecture other than `expected_model` (a registry name; aliases resolve).
    """
    from resnet_deploy.models import build_model, get_entry

    path = require_file(path, "checkpoint")
    meta = checkpoint_meta(path)
    name, kwargs = meta.architecture.name, dict(meta.architecture.kwargs)
    if expected_model is not None:
        try:
            expected = get_entry(expected_model).name
        except InvalidInputError:
            expected = expected_model
        if expected != name:
            raise ArtifactError(f"checkpoint '{path}' holds a {name}, not a {expected_model}; name {name} or pass the "
                                "matching checkpoint", param="model")
    digest = meta.sha256 or sha256_file(path)
    spec = meta.input_spec
    tensors = _read_safetensors(path)
    try:
        kwargs = get_entry(name).arguments(kwargs)
        model = build_model(name, **kwargs)
    except InvalidInputError as exc:
        raise ArtifactError(f"checkpoint '{path}': cannot rebuild {name}: {exc}") from exc
    result = model.load_state_dict(tensors, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ArtifactError(f"checkpoint '{path}' does not fit {name}: {_describe_keys(result.missing_keys, result.unexpected_keys)}")
    model.eval()
    return Checkpoint(model, name, kwargs, spec, meta, path, digest)


def checkpoint_meta(path: str | os.PathLike[str]) -> CheckpointSidecar:
    """The sidecar record that matches the checkpoint's bytes (artifacts.artifact_meta), or,
    when the sidecar is missing, the copy embedded in the safetensors header."""
    from resnet_deploy.jsonfile import first_problem
    from resnet_deploy.models import get_entry

    if sidecar_path(path).exists():
        recorded = artifact_meta(path, kind=CHECKPOINT_KIND)
        assert recorded is not None
        meta = recorded.to_dict()
    else:
        meta = _header_meta(Path(path))
        meta["sha256"] = sha256_file(path)
        log.info("checkpoint %s has no sidecar; using the metadata stored in its header", path)
    try:
        sidecar = CheckpointSidecar.model_validate(meta)
    except ValidationError as exc:
        raise ArtifactError(f"sidecar of checkpoint '{path}' is not valid ({first_problem(exc)}); it was not written "
                            "by resnet-deploy train") from exc
    # The architecture's arguments are typed by its constructor: refuse a wrong one here, at
    # the door, rather than as a TypeError inside the network's __init__.
    try:
        get_entry(sidecar.architecture.name).arguments(sidecar.architecture.kwargs)
    except InvalidInputError as exc:
        raise ArtifactError(f"sidecar of checkpoint '{path}' is not valid ({exc}); it was not written by "
                            "resnet-deploy train or was edited") from exc
    return sidecar


def _header_meta(path: Path) -> JsonObject:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactError(f"checkpoint '{path}' is not a readable safetensors file ({exc}); it is truncated or "
                            "corrupt") from exc
    if HEADER_KEY not in header:
        raise ArtifactError(f"'{path}' has no sidecar '{sidecar_path(path).name}' and no resnet-deploy metadata in its "
                            "header; it was not written by resnet-deploy train")
    meta = loads_json(header[HEADER_KEY], what=f"the metadata in the header of checkpoint '{path}'")
    if not isinstance(meta, dict) or meta.get("kind") != CHECKPOINT_KIND:
        raise ArtifactError(f"'{path}' is not a resnet-deploy checkpoint")
    return meta


def _describe_keys(missing: list[str], unexpected: list[str], shapes: list[str] | None = None, limit: int = 12) -> str:
    def short(keys: list[str]) -> str:
        more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
        return ", ".join(keys[:limit]) + more

    parts = []
    if missing:
        parts.append(f"missing keys: {short(missing)}")
    if unexpected:
        parts.append(f"unexpected keys: {short(unexpected)}")
    if shapes:
        parts.append(f"shape mismatches: {short(shapes)}")
    return "; ".join(parts)


def load_foreign_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A state dict from a torchvision-style `.pth`/`.pt` (torch.load weights_only=True), or a
    `.safetensors` file. Wrappers ({"state_dict": ...}, {"model": ...}) and DDP's `module.`
    prefix are removed."""
    path = require_file(path, "weights file")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ... for bad files
        raise ArtifactError(f"cannot load '{path}' as a weights-only PyTorch state dict ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''}); it must be a plain state_dict (.pth) or .safetensors") from exc
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ArtifactError(f"'{path}' does not hold a state dict of tensors")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


def init_from(model: nn.Module, path: str | os.PathLike[str], *, skip_mismatched: bool = False) -> dict[str, list[str]]:
    """Load a foreign state dict into `model`; any missing or unexpected key is an
    InvalidInputError that lists them. With `skip_mismatched`, tensors whose shape differs
    (a 1000-class head into a 10-class model) are skipped and reported instead."""
    state = load_foreign_state_dict(path)
    target = unwrap_model(model).state_dict()
    missing = [k for k in target if k not in state]
    unexpected = [k for k in state if k not in target]
    mismatched = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in target.items()
                  if k in state and state[k].shape != v.shape]
    skipped: list[str] = []
    if skip_mismatched:
        skipped = [m.split(" ")[0] for m in mismatched]
        missing = [k for k in missing if k not in skipped]
        mismatched = []
    if missing or unexpected or mismatched:
        raise InvalidInputError(f"weights '{path}' do not fit the model: {_describe_keys(missing, unexpected, mismatched)}")
    to_load = {k: v for k, v in state.items() if k not in skipped}
    unwrap_model(model).load_state_dict(to_load, strict=not skipped)
    if skipped:
        log.warning("init-from %s: skipped %d tensors with another shape: %s", path, len(skipped), ", ".join(skipped))
    return {"loaded": sorted(to_load), "skipped": skipped}
