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
from pathlib import Path
from typing import Any

import torch
from torch import nn

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.export.artifact import (
    UNTRAINED_SEED,
    Loaded,
    describe_model_name,
    torch_artifact,
)

__all__ = ["UNTRAINED_SEED", "ModelSource", "build_untrained", "load_model_source"]

FOREIGN_SUFFIXES = (".pth", ".pt")


ModelSource = Loaded[nn.Module]  # a network in eval mode and its description (export.artifact)


def build_untrained(name: str, **kwargs: Any) -> nn.Module:
    """The untrained network for `name`: a fixed seed makes its weights reproducible (with the
    same torch version), and the caller's global RNG is left untouched."""
    from resnet_deploy.models import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(UNTRAINED_SEED)
        return build_model(name, **kwargs).eval()


def load_model_source(*, model: str | None = None, checkpoint: str | os.PathLike[str] | None = None,
                      num_classes: int | None = None, in_channels: int | None = None) -> ModelSource:
    """The network named by `model` and/or stored in `checkpoint`.

    - a resnet-deploy checkpoint (`.safetensors` + sidecar): its architecture, weights and
      input spec; `model`, when given, must name the same architecture;
    - foreign weights (`.pth`/`.pt`, e.g. torchvision's, loaded with weights_only=True):
      `model` says which architecture; every key must fit;
    - no checkpoint: the untrained, seeded network `model` names.
    """
    if checkpoint is not None:
        path = Path(checkpoint)
        if path.suffix in FOREIGN_SUFFIXES:
            return _foreign(path, model, num_classes, in_channels)
        if num_classes is not None or in_channels is not None:
            raise InvalidInputError("num_classes and in_channels come from the checkpoint; don't pass them with one",
                                    param="num_classes")
        from resnet_deploy.train.checkpoint import load_checkpoint

        loaded = load_checkpoint(path, expected_model=model)
        artifact = torch_artifact(os.fspath(path), "checkpoint", path, loaded.model_name, dict(loaded.model_kwargs),
                                  loaded.input_spec, "sidecar", loaded.meta,
                                  trained=True)
        artifact.known_sha256 = loaded.sha256
        return Loaded(artifact, loaded.model.eval().float())
    if model is None:
        raise InvalidInputError("give a model name (e.g. resnet50) or a checkpoint", param="model")
    artifact = describe_model_name(model, _constructor_kwargs(num_classes, in_channels))
    assert artifact.architecture is not None
    return Loaded(artifact, build_untrained(artifact.architecture, **artifact.model_kwargs))


def _constructor_kwargs(num_classes: int | None, in_channels: int | None) -> dict[str, Any]:
    """The constructor arguments given (those left out take the registry's defaults)."""
    return {k: v for k, v in {"num_classes": num_classes, "in_channels": in_channels}.items() if v is not None}


def _foreign(path: Path, model: str | None, num_classes: int | None, in_channels: int | None) -> ModelSource:
    from resnet_deploy.models import build_model, get_entry
    from resnet_deploy.train.checkpoint import init_from

    if model is None:
        raise InvalidInputError(f"'{path}' holds bare weights: say which architecture they are for (e.g. model resnet50)",
                                param="model")
    entry = get_entry(model)
    kwargs = _constructor_kwargs(num_classes, in_channels)
    net = build_model(entry.name, **kwargs)
    init_from(net, path)
    net.eval()
    spec = describe_model_name(entry.name, kwargs).input_spec
    assert spec is not None
    return Loaded(torch_artifact(os.fspath(path), "weights", path, entry.name, kwargs, spec, "registry", None,
                                 trained=True), net)
