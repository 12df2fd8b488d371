"""TrainConfig: every knob of a training run, with the defaults of the digits recipe.

The defaults are the recipe `resnet-deploy train --model resnet20 --dataset digits` runs:
SGD momentum 0.9 with Nesterov, lr 0.1 for batch 64 (scaled linearly with --batch-size),
weight decay 5e-4 (not on BN and bias), one epoch of linear warm-up then cosine decay,
label smoothing 0.1, 15 epochs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.jsontypes import JsonObject

SCHEDULES = ("cosine", "multistep", "constant")
AMP_MODES = ("off", "bf16", "fp16")


@dataclass
class TrainConfig:
    model: str = "resnet20"
    dataset: str = "digits"
    out: str | Path = "runs/train"
    data_dir: str | Path | None = None
    epochs: int = 15
    batch_size: int = 64            # global batch (split across DDP ranks)
    lr: float | None = None         # None: base_lr * batch_size / 64
    base_lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4      # applied to conv/linear weights only, never BN or bias
    schedule: str = "cosine"
    milestones: tuple[float, ...] = (0.5, 0.75)  # multistep: fractions of the run (the paper's 32k/48k of 64k)
    gamma: float = 0.1
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    amp: str = "off"                # bf16 / fp16 autocast (fp16 needs CUDA and uses a GradScaler)
    channels_last: bool = False
    grad_clip: float | None = None  # max global L2 norm of the gradients
    ema: float | None = None        # EMA decay (e.g. 0.999); evaluation and checkpoints use the EMA weights
    seed: int = 0
    deterministic: bool = False
    workers: int = 0
    device: str = "auto"            # auto: cuda if available, else cpu
    input_size: int | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    init_from: str | Path | None = None
    init_skip_mismatched: bool = False
    resume: bool = False
    overwrite: bool = False
    augment: bool = True
    train_limit: int | None = None  # use only the first N training samples (tests, smoke runs)
    val_limit: int | None = None
    plot: bool = True

    def effective_lr(self) -> float:
        return self.lr if self.lr is not None else self.base_lr * self.batch_size / 64

    def validate(self) -> None:
        """Refuse values that cannot train (one InvalidInputError naming the parameter)."""
        def bad(param: str, message: str) -> InvalidInputError:
            return InvalidInputError(f"`{param}` {message}", param=param)

        for name in ("lr", "momentum", "weight_decay", "gamma", "warmup_epochs", "label_smoothing", "grad_clip", "ema"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(float(value)):
                raise bad(name, f"must be a finite number, got {value}")
        if self.epochs < 1:
            raise bad("epochs", f"must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise bad("batch_size", f"must be at least 1, got {self.batch_size}")
        if self.effective_lr() <= 0:
            raise bad("lr", f"must be positive, got {self.effective_lr()}")
        if not 0 <= self.momentum <= 1:
            raise bad("momentum", f"must be in [0, 1], got {self.momentum}")
        if self.weight_decay < 0:
            raise bad("weight_decay", f"must be >= 0, got {self.weight_decay}")
        if self.gamma <= 0:
            raise bad("gamma", f"must be positive, got {self.gamma}")
        if self.schedule not in SCHEDULES:
            raise bad("schedule", f"{self.schedule!r} is unknown; valid: {', '.join(SCHEDULES)}")
        if self.amp not in AMP_MODES:
            raise bad("amp", f"{self.amp!r} is unknown; valid: {', '.join(AMP_MODES)}")
        if not 0 <= self.label_smoothing < 1:
            raise bad("label_smoothing", f"must be in [0, 1), got {self.label_smoothing}")
        if self.ema is not None and not 0 < self.ema < 1:
            raise bad("ema", f"decay must be in (0, 1), got {self.ema}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise bad("grad_clip", f"must be positive, got {self.grad_clip}")
        if self.warmup_epochs < 0 or self.warmup_epochs >= self.epochs + 1:
            raise bad("warmup_epochs", f"must be in [0, epochs], got {self.warmup_epochs}")
        if any(not 0 < m < 1 for m in self.milestones):
            raise bad("milestones", f"are fractions of the run in (0, 1), got {self.milestones}")
        if self.workers < 0:
            raise bad("workers", f"must be >= 0, got {self.workers}")
        for name in ("train_limit", "val_limit", "input_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise bad(name, f"must be at least 1, got {value}")

    def to_dict(self) -> JsonObject:
        data = dataclasses.asdict(self)
        for key in ("out", "data_dir", "init_from"):
            if data[key] is not None:
                data[key] = str(data[key])
        data["milestones"] = list(self.milestones)
        data["lr_effective"] = self.effective_lr()
        return data
