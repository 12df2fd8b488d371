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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from resnet_deploy.backends.base import TensorInfo
from resnet_deploy.bench.config import BackendSpec
from resnet_deploy.errors import InvalidInputError, MissingDependencyError, ResnetDeployError

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


def image_input(name: str, inputs: Sequence[TensorInfo],
                input_size: tuple[int, int] | None) -> tuple[TensorInfo, tuple[int, int, int]]:
    """The one NCHW image input (1 or 3 channels) among `inputs` and its (C, H, W); exit 2
    for anything else. `name` (the backend) prefixes the messages."""
    if len(inputs) != 1:
        raise InvalidInputError(f"{name}: not an image classifier: it has {len(inputs)} inputs "
                                f"({', '.join(t.name for t in inputs)}), expected one NCHW image input")
    info = inputs[0]
    if len(info.shape) != 4:
        raise InvalidInputError(f"{name}: not an image model: input '{info.name}' has shape {info.shape}, "
                                "expected NCHW with 1 or 3 channels")
    _, c, h, w = info.shape
    if not isinstance(c, int) or c not in (1, 3):
        raise InvalidInputError(f"{name}: not an image model: input '{info.name}' has shape {info.shape}; "
                                "expected NCHW with 1 or 3 channels (NHWC inputs are not supported)")
    if not np.issubdtype(info.dtype, np.floating) and not np.issubdtype(info.dtype, np.integer):
        raise InvalidInputError(f"{name}: input '{info.name}' has dtype {info.dtype}, expected numbers")
    size = [h, w]
    for axis, value in enumerate((h, w)):
        if isinstance(value, int) and value > 0:
            if input_size is not None and input_size[axis] != value:
                raise InvalidInputError(f"{name}: the model's input is fixed at {h}x{w}; "
                                        f"`input_size` {input_size[0]}x{input_size[1]} does not match",
                                        param="input_size")
        elif input_size is not None:
            size[axis] = input_size[axis]
        else:
            raise InvalidInputError(f"{name}: input '{info.name}' has a dynamic height/width {info.shape}; "
                                    "give `input_size` HxW", param="input_size")
    return info, (c, int(size[0]), int(size[1]))  # type: ignore[arg-type]


@dataclass(frozen=True)
class InputShape:
    """What an artifact says about its input before it is opened."""

    chw: tuple[int, int, int] | None = None
    architecture: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    source: str = "unknown"  # metadata, sidecar, registry, runner


def _spatial(spec: dict[str, Any] | None, input_size: tuple[int, int] | None) -> tuple[int, int, int] | None:
    if not isinstance(spec, dict):
        return None
    try:
        c, h, w = int(spec["channels"]), spec.get("height"), spec.get("width")
    except (KeyError, TypeError, ValueError):
        return None
    if input_size is not None:
        h, w = input_size
    if not isinstance(h, int) or not isinstance(w, int):
        return None
    return c, h, w


def input_shape(spec: BackendSpec, input_size: tuple[int, int] | None = None) -> InputShape:
    """The input (C, H, W) and architecture an artifact records, read without loading it
    into a runtime: an ONNX model's graph inputs and metadata, a plan's or checkpoint's
    sidecar, or the registry for a model name. A model that is not an image classifier, or
    a broken file, is refused here (exit 2), before anything is timed; what the artifact does
    not say stays None and is learnt from the runner later."""
    from resnet_deploy.backends.registry import artifact_kind

    source = spec.artifact if spec.artifact is not None else spec.model
    if source is None:
        return InputShape()
    kind = artifact_kind(source)
    if kind == "onnx" and Path(source).is_file():
        return _onnx_shape(spec, Path(source), input_size)
    if kind == "plan" and Path(source).is_file():
        from resnet_deploy.runtime.plan_meta import load_plan_meta

        plan = load_plan_meta(source, verify=False)
        inputs = [TensorInfo(t.name, tuple(d if d >= 0 else None for d in t.shape), np.dtype(np.float32))
                  for t in plan.io_tensors if t.mode == "input"]
        chw = image_input(spec.backend, inputs, input_size)[1] if inputs else _spatial(plan.input_spec, input_size)
        return InputShape(chw, plan.architecture, {}, "sidecar")
    if kind == "checkpoint" and Path(source).is_file():
        from resnet_deploy.model_source import FOREIGN_SUFFIXES
        from resnet_deploy.train.checkpoint import checkpoint_meta

        if Path(source).suffix in FOREIGN_SUFFIXES:  # a foreign .pth has no sidecar: the runner says what it needs
            return InputShape()
        meta = checkpoint_meta(source)  # refuses a bad sidecar (or argument) here, before anything is timed
        found = meta.get("architecture")
        arch: dict[str, Any] = found if isinstance(found, dict) else {}
        return InputShape(_spatial(meta.get("input_spec"), input_size), arch.get("name"),
                          dict(arch.get("kwargs") or {}), "sidecar")
    if kind == "checkpoint" and spec.artifact is None:
        from resnet_deploy.models import get_entry

        entry = get_entry(str(source))
        size = input_size or (entry.input_size, entry.input_size)
        channels = int(spec.options.get("in_channels", 3))
        return InputShape((channels, size[0], size[1]), entry.name, {}, "registry")
    return InputShape()


def _onnx_shape(spec: BackendSpec, path: Path, input_size: tuple[int, int] | None) -> InputShape:
    from onnx import helper

    from resnet_deploy.export.loader import load_onnx_model
    from resnet_deploy.export.metadata import describe_metadata

    model = load_onnx_model(path, load_external_data=False, check=False)
    initializers = {t.name for t in model.graph.initializer}
    inputs = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                     for d in value.type.tensor_type.shape.dim)
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type))
        inputs.append(TensorInfo(value.name, dims, dtype))
    _, chw = image_input(spec.backend, inputs, input_size)
    meta = describe_metadata(model)
    return InputShape(chw, meta.get("architecture"), dict(meta.get("model_kwargs") or {}), "metadata")


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
