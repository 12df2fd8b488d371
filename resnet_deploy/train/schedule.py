"""The learning-rate schedule: a multiplier of the base LR per optimizer step."""

from __future__ import annotations

import math


def lr_factor(step: int, *, total_steps: int, warmup_steps: int, schedule: str,
              milestones: tuple[float, ...], gamma: float) -> float:
    """Multiplier of the base LR after `step` optimizer steps: linear warm-up, then cosine to
    zero, the paper's step decay at fractions of the run, or constant."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "cosine":
        span = max(1, total_steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / span)
        return 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "multistep":
        return float(gamma ** sum(step >= round(m * total_steps) for m in milestones))
    return 1.0
