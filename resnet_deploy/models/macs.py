"""Parameter and multiply-accumulate counts, by running the model once and walking its layers.

Counts convolutions and linear layers (what "4.1 G MACs for ResNet-50" means); BN, ReLU,
pooling and adds are a rounding error and are left out, as is customary. The model runs on
the meta device, so counting ResNet-152 costs no memory and no arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ModelCost:
    params: int
    macs: int
    input_shape: tuple[int, ...]


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs for one forward pass at `input_shape` (N, C, H, W), summed over the batch."""
    total = 0

    def conv_hook(module: nn.Conv2d, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += output.numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * module.in_features

    handles = []
    skipped: list[nn.Module] = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
        elif isinstance(module, nn.modules.batchnorm._BatchNorm) and "forward" not in vars(module):
            # Normalisation keeps the shape and is not counted; on the meta device it is also
            # the slowest op (half the time of a ResNet-152 count), so it is skipped.
            module.forward = _identity  # type: ignore[method-assign,assignment]
            skipped.append(module)
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            model(torch.zeros(input_shape, device=device))
    finally:
        for handle in handles:
            handle.remove()
        for module in skipped:
            del module.forward
    return total


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def model_cost(name: str, input_size: int | None = None, **kwargs: object) -> ModelCost:
    """Params and per-image MACs of a registered model, computed on the meta device."""
    from resnet_deploy.models.registry import build_model, get_entry

    entry = get_entry(name)
    size = input_size or entry.input_size
    channels = int(kwargs.get("in_channels", 3))  # type: ignore[call-overload]
    with torch.device("meta"):
        model = build_model(name, **kwargs)
    model.eval()
    shape = (1, channels, size, size)
    return ModelCost(count_params(model), count_macs(model, shape), shape)


def registry_costs() -> list[tuple[str, str, int, str, int, int, tuple[int, int, int], int]]:
    """(name, family, depth, block, params, MACs per image, (C, H, W), classes) of every
    registered model at its default size: the rows of resnet_deploy/model_cost_table.py."""
    from resnet_deploy.models.registry import list_models

    rows = []
    for entry in list_models():
        cost = model_cost(entry.name)
        _, c, h, w = cost.input_shape
        rows.append((entry.name, entry.family, entry.depth, entry.block, cost.params, cost.macs, (c, h, w),
                     entry.default_classes))
    return rows
