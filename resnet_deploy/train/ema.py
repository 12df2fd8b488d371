"""Exponential moving average of a model's weights (the `ema` option of training)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from resnet_deploy.train.checkpoint import unwrap_model


class ModelEma:
    """Exponential moving average of the weights (buffers copied), with the usual warm-up
    min(decay, (1 + step) / (10 + step)) so early averages are not dominated by the init."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(unwrap_model(model)).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        source = unwrap_model(model).state_dict()
        for name, value in self.module.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(d).add_(source[name].detach(), alpha=1 - d)
            else:
                value.copy_(source[name])

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
