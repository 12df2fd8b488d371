"""Will it fit? Memory estimates checked before a large allocation, so an impossible request
(a 100000-pixel input, a batch of 100000) is one line and exit 2 instead of an
out-of-memory kill or a machine swapping for minutes.

The estimate runs the network once on the meta device (no memory, no arithmetic) and keeps
the largest activation; the peak of an inference forward pass is about the input plus a few
activations of that size alive at once (a residual block holds its input, its identity and
its output).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from resnet_deploy.errors import InvalidInputError

LIVE_ACTIVATIONS = 3  # input of a residual block, its identity branch and its output
FLOAT_BYTES = 4


def available_memory_bytes() -> int | None:
    """What the kernel says can still be allocated without swapping (MemAvailable), or None
    where that cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def largest_activation_elements(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Elements of the largest output of any leaf module for one forward at `input_shape`."""
    largest = 0

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        nonlocal largest
        if isinstance(output, torch.Tensor):
            largest = max(largest, output.numel())

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model(torch.zeros(input_shape, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return largest


def forward_memory_bytes(name: str, input_shape: tuple[int, int, int, int], **kwargs: Any) -> int:
    """Estimated peak bytes of one FP32 inference forward of registry model `name`."""
    from resnet_deploy.models import build_model

    with torch.device("meta"):
        model = build_model(name, **kwargs).eval()
    batch, channels, height, width = input_shape
    input_bytes = batch * channels * height * width * FLOAT_BYTES
    return input_bytes + LIVE_ACTIVATIONS * largest_activation_elements(model, input_shape) * FLOAT_BYTES


def require_memory(needed: int, what: str, *, param: str | None = None) -> None:
    """InvalidInputError (exit 2) when `needed` bytes exceed the memory available now."""
    available = available_memory_bytes()
    if available is not None and needed > available:
        raise InvalidInputError(f"{what} needs about {needed / 2**30:.1f} GiB of memory, more than the "
                                f"{available / 2**30:.1f} GiB available; choose a smaller size", param=param)
