"""What `run_benchmark` checks before it times anything, so that a run that cannot finish
fails in the first second with one line instead of after minutes of timing other backends:

- every backend is installed and usable here (all the missing ones named in one message);
- every artifact exists, is the kind its backend runs, and every option is one the backend
  takes (the registry's checks, made by building each runner without activating it);
- every requested batch size fits in memory: inputs plus activations, from
  `memory.forward_memory_bytes` when the artifact's metadata names its architecture, else
  a conservative multiple of the input size, against the memory available now.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resnet_deploy.bench.config import BackendSpec
from resnet_deploy.errors import InvalidInputError, MissingDependencyError, ResnetDeployError
from resnet_deploy.export.artifact import Artifact, artifact_kind, describe_artifact

log = logging.getLogger(__name__)

# Without an architecture, activations are bounded by this multiple of the input: a ResNet's
# largest activation (the stem's or the first stage's output, 64-256 channels at a quarter of
# the pixels) is about 5x a 3-channel input, and about three such tensors are alive at once.
CONSERVATIVE_INPUT_MULTIPLE = 32
FLOAT_BYTES = 4


def unavailable(specs: Sequence[BackendSpec]) -> dict[str, str]:
    """backend name -> why it cannot run here, for the backends of `specs` that cannot."""
    from resnet_deploy.backends.registry import get_backend, unavailable_reason

    reasons: dict[str, str] = {}
    for spec in specs:
        get_backend(spec.backend)  # an unknown name is bad input (exit 2), not a missing package
        if spec.backend not in reasons:
            reason = unavailable_reason(spec.backend)
            if reason is not None:
                reasons[spec.backend] = reason
    return reasons


def refuse_unavailable(reasons: dict[str, str]) -> None:
    """MissingDependencyError (exit 3) naming every backend that cannot run, in one line."""
    if reasons:
        names = ", ".join(reasons)
        raise MissingDependencyError(f"cannot run {names} here, so nothing was timed: " + "; ".join(reasons.values()))


@dataclass(frozen=True)
class InputShape:
    """The input (C, H, W) a run feeds and the description it was read from (None when the
    artifact does not say: the runner tells, later)."""

    chw: tuple[int, int, int] | None = None
    artifact: Artifact | None = None

    @property
    def architecture(self) -> str | None:
        return self.artifact.architecture if self.artifact is not None else None

    @property
    def model_kwargs(self) -> dict[str, Any]:
        return dict(self.artifact.model_kwargs) if self.artifact is not None else {}


def input_shape(spec: BackendSpec, input_size: tuple[int, int] | None = None) -> InputShape:
    """The input (C, H, W) and architecture an artifact records, read without loading it
    into a runtime (export.artifact.describe_artifact). A model that is not an image
    classifier, or a broken file, is refused here (exit 2), before anything is timed; what
    the artifact does not say (bare weights: a foreign .pth without a sidecar) is
    learnt from the runner later."""
    source = spec.artifact if spec.artifact is not None else spec.model
    if source is None or (spec.artifact is not None and not Path(source).is_file()):
        return InputShape()
    kwargs = {"in_channels": spec.options.in_channels} if spec.options.in_channels is not None else None
    try:
        artifact = describe_artifact(source, model_kwargs=kwargs, verify=False)
    except ResnetDeployError as exc:
        from resnet_deploy.model_source import FOREIGN_SUFFIXES

        # A bad sidecar (or argument) is refused here, before anything is timed; a foreign
        # .pth has no sidecar: the runner says what it needs.
        if artifact_kind(source) != "checkpoint" or spec.artifact is None or Path(source).suffix not in FOREIGN_SUFFIXES:
            raise
        log.debug("no description of %s: %s", source, exc)
        return InputShape()
    if artifact.kind == "weights":
        return InputShape()
    return InputShape(artifact.image_input(input_size, who=spec.backend).chw, artifact)


def bytes_per_image(shape: InputShape) -> tuple[int, str] | None:
    """Estimated peak bytes per image of one FP32 inference (inputs + live activations) and
    how it was estimated; None when the input size is unknown."""
    if shape.chw is None:
        return None
    c, h, w = shape.chw
    if shape.architecture:
        try:
            from resnet_deploy.memory import forward_memory_bytes
            from resnet_deploy.models import get_entry

            options = get_entry(shape.architecture).options
            kwargs = {k: v for k, v in shape.model_kwargs.items() if k in options}
            return forward_memory_bytes(shape.architecture, (1, c, h, w), **kwargs), shape.architecture
        except (ResnetDeployError, TypeError, ValueError, RuntimeError) as exc:
            log.debug("memory estimate for %s failed (%s); using the conservative one", shape.architecture, exc)
    return c * h * w * FLOAT_BYTES * (1 + CONSERVATIVE_INPUT_MULTIPLE), "input size"


def check_memory(spec: BackendSpec, shape: InputShape, batches: Sequence[int], *, gpu: bool) -> None:
    """InvalidInputError (exit 2, naming `batch_sizes`) when the largest batch's inputs and
    activations would not fit in the memory available now. On a GPU backend the host holds
    only the input batch, and the device's free memory is checked when torch can read it."""
    from resnet_deploy.memory import require_memory

    estimate = bytes_per_image(shape)
    if estimate is None or not batches:
        return
    per_image, basis = estimate
    batch = max(batches)
    c, h, w = shape.chw or (0, 0, 0)
    what = f"batch {batch} of {basis if basis != 'input size' else 'this model'} at {c}x{h}x{w} on {spec.name}"
    if gpu:
        require_memory(batch * c * h * w * FLOAT_BYTES, f"the host input buffer for {what}", param="batch_sizes")
        free = _cuda_free_bytes()
        if free is not None and batch * per_image > free:
            raise InvalidInputError(f"{what} needs about {batch * per_image / 2**30:.1f} GiB of GPU memory, more than "
                                    f"the {free / 2**30:.1f} GiB free; choose a smaller size", param="batch_sizes")
        return
    require_memory(batch * per_image, what, param="batch_sizes")


def largest_fitting(sizes: Sequence[int], shape: InputShape) -> list[int]:
    """The default sweep's sizes whose memory estimate fits now (default sweeps are trimmed,
    never refused)."""
    from resnet_deploy.memory import usable_memory_bytes

    estimate = bytes_per_image(shape)
    available = usable_memory_bytes()
    if estimate is None or available is None:
        return list(sizes)
    fitting = [b for b in sizes if b * estimate[0] <= available]
    return fitting or list(sizes[:1])


def _cuda_free_bytes() -> int | None:
    try:
        import torch

        if torch.cuda.is_available():
            free, _total = torch.cuda.mem_get_info()
            return int(free)
    except Exception as exc:  # a broken driver is reported by the runner, not here
        log.debug("cannot read free GPU memory: %s", exc)
    return None


def expected_point_seconds(iteration_s: float, *, iterations: int | None, duration_s: float | None,
                           min_iterations: int) -> float:
    """How long a measured loop runs at `iteration_s` per iteration (BenchConfig's rule)."""
    if iterations is not None and duration_s is not None:
        return max(iterations * iteration_s, duration_s)
    if iterations is not None:
        return iterations * iteration_s
    return max(duration_s or 0.0, min_iterations * iteration_s)


def remaining_seconds(count: int, elapsed_s: float, *, iterations: int | None, duration_s: float | None,
                      min_iterations: int) -> float | None:
    """The measured loop's time still to run after `count` iterations in `elapsed_s`."""
    if count < 1:
        return None
    per = elapsed_s / count
    total = expected_point_seconds(per, iterations=iterations, duration_s=duration_s, min_iterations=min_iterations)
    return max(0.0, total - elapsed_s) if math.isfinite(total) else None
