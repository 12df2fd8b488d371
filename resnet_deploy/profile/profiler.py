"""`profile`: per-layer times of a model on one backend. One table says which backends have a
per-layer profiler and which function reads it; the others are refused with the reason."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from resnet_deploy.backends.registry import (
    artifact_kind,
    check_run_precision,
    default_backend,
    get_backend,
    require_available,
)
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.profile.record import ProfileResult
from resnet_deploy.profile.settings import ProfileSettings

Profiler = Callable[[str | Path, str, ProfileSettings], ProfileResult]


def _ort(model: str | Path, backend: str, settings: ProfileSettings) -> ProfileResult:
    from resnet_deploy.profile.ort_profiler import profile_onnxruntime

    return profile_onnxruntime(model, backend, settings)


def _openvino(model: str | Path, backend: str, settings: ProfileSettings) -> ProfileResult:
    from resnet_deploy.profile.openvino_profiler import profile_openvino

    return profile_openvino(model, backend, settings)


def _torch(model: str | Path, backend: str, settings: ProfileSettings) -> ProfileResult:
    from resnet_deploy.profile.torch_profiler import profile_torch

    return profile_torch(model, backend, settings)


def _tensorrt(model: str | Path, backend: str, settings: ProfileSettings) -> ProfileResult:
    from resnet_deploy.profile.tensorrt_profiler import profile_tensorrt

    return profile_tensorrt(model, backend, settings)


# One profiler per registry `per_layer` mechanism (the rows say which backend uses which).
PROFILERS: dict[str, Profiler] = {"onnxruntime": _ort, "openvino": _openvino, "torch": _torch, "tensorrt": _tensorrt}


def profile_model(model: str | os.PathLike[str], *, backend: str | None = None,
                  settings: ProfileSettings | None = None) -> ProfileResult:
    """Per-layer times of `model` (ONNX, plan, checkpoint or model name) on `backend` (its
    kind's default when None). Exit 2 for a backend with no per-layer profiler, 3 for one
    that is not installed here."""
    settings = settings or ProfileSettings()
    text = os.fspath(model)
    kind = artifact_kind(text)
    backend = backend or default_backend(kind)
    info = get_backend(backend)
    if info.per_layer not in PROFILERS:
        raise InvalidInputError(f"backend '{backend}' cannot be profiled per layer: {info.no_per_layer}",
                                param="backend")
    if info.artifact != kind:
        raise InvalidInputError(f"backend '{backend}' runs {info.artifact} artifacts, not '{text}' ({kind})",
                                param="backend")
    require_available(backend)
    check_run_precision(backend, settings.precision)
    result = PROFILERS[info.per_layer](text, backend, settings)
    if result.model_precision is None and kind == "onnx":
        from resnet_deploy.export.artifact import describe_artifact

        result.model_precision = describe_artifact(text, verify=False).precision or None
    return result
