"""Where a PyTorch network comes from: a checkpoint, torchvision-style weights, or a registry
name (untrained). One loader serves export, validate and the torch runner, so the network
an untrained export holds is bit for bit the one `validate` and `bench --backend torch`
rebuild (same constructor, same seed).

    source = load_model_source(checkpoint="runs/r20/best.safetensors")
    source = load_model_source(model="resnet50")                               # untrained, seeded
    source = load_model_source(model="resnet50", checkpoint="resnet50.pth")    # torchvision weights
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.input_spec import InputSpec, default_input_spec

UNTRAINED_SEED = 0  # torch seed for the weights of an untrained network (export, validate, bench)
FOREIGN_SUFFIXES = (".pth", ".pt")


@dataclass
class ModelSource:
    """A network in eval mode and what is known about it."""

    model: nn.Module
    name: str                      # registry name
    kwargs: dict[str, Any]         # constructor arguments beyond the registry defaults
    input_spec: InputSpec
    kind: str                      # "checkpoint", "weights" (a foreign .pth) or "untrained"
    path: Path | None = None       # the checkpoint or weights file
    sha256: str | None = None      # of that file
    meta: dict[str, Any] = field(default_factory=dict, repr=False)  # the checkpoint's sidecar

    @property
    def trained(self) -> bool:
        return self.kind != "untrained"

    @property
    def init_seed(self) -> int | None:
        return UNTRAINED_SEED if self.kind == "untrained" else None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "architecture": self.name, "path": None if self.path is None else str(self.path),
                "sha256": self.sha256, "init_seed": self.init_seed}


def build_untrained(name: str, **kwargs: Any) -> nn.Module:
    """The untrained network for `name`: a fixed seed makes its weights reproducible (with the
    same torch version), and the caller's global RNG is left untouched."""
    from resnet_deploy.models import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(UNTRAINED_SEED)
        return build_model(name, **kwargs).eval()


def _default_spec(model: nn.Module, name: str, num_classes: int | None) -> InputSpec:
    from resnet_deploy.models import get_entry

    entry = get_entry(name)
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    return default_input_spec(first_conv.in_channels, entry.input_size, num_classes or entry.default_classes)


def load_model_source(*, model: str | None = None, checkpoint: str | os.PathLike[str] | None = None,
                      num_classes: int | None = None, in_channels: int | None = None) -> ModelSource:
    """The network named by `model` and/or stored in `checkpoint`.

    - a resnet-deploy checkpoint (`.safetensors` + sidecar): its architecture, weights and
      input spec; `model`, when given, must name the same architecture;
    - foreign weights (`.pth`/`.pt`, e.g. torchvision's, loaded with weights_only=True):
      `model` says which architecture; every key must fit;
    - no checkpoint: the untrained, seeded network `model` names.
    """
    from resnet_deploy.models import get_entry

    if checkpoint is not None:
        path = Path(checkpoint)
        if path.suffix in FOREIGN_SUFFIXES:
            return _foreign(path, model, num_classes, in_channels)
        if num_classes is not None or in_channels is not None:
            raise InvalidInputError("num_classes and in_channels come from the checkpoint; don't pass them with one",
                                    param="num_classes")
        from resnet_deploy.train.checkpoint import load_checkpoint

        loaded = load_checkpoint(path, expected_model=model)
        return ModelSource(loaded.model.eval().float(), loaded.model_name, dict(loaded.model_kwargs),
                           loaded.input_spec, "checkpoint", path, loaded.sha256, loaded.meta)
    if model is None:
        raise InvalidInputError("give a model name (e.g. resnet50) or a checkpoint", param="model")
    entry = get_entry(model)
    kwargs = _constructor_kwargs(num_classes, in_channels)
    net = build_untrained(entry.name, **kwargs)
    return ModelSource(net, entry.name, kwargs, _default_spec(net, entry.name, num_classes), "untrained")


def _constructor_kwargs(num_classes: int | None, in_channels: int | None) -> dict[str, Any]:
    """The constructor arguments given (those left out take the registry's defaults)."""
    return {k: v for k, v in {"num_classes": num_classes, "in_channels": in_channels}.items() if v is not None}


def _foreign(path: Path, model: str | None, num_classes: int | None, in_channels: int | None) -> ModelSource:
    from resnet_deploy.models import build_model, get_entry
    from resnet_deploy.sidecar import sha256_file
    from resnet_deploy.train.checkpoint import init_from

    if model is None:
        raise InvalidInputError(f"'{path}' holds bare weights: say which architecture they are for (e.g. model resnet50)",
                                param="model")
    entry = get_entry(model)
    kwargs = _constructor_kwargs(num_classes, in_channels)
    net = build_model(entry.name, **kwargs)
    init_from(net, path)
    net.eval()
    return ModelSource(net, entry.name, kwargs, _default_spec(net, entry.name, num_classes), "weights", path,
                       sha256_file(path))
