"""Turn a BackendSpec into a (not yet activated) runner of the right kind.

The runner modules import their runtimes lazily, so this module imports nothing heavy; a
runtime that is not installed surfaces as MissingDependencyError (exit 3) naming the pip
extra, from the runner itself or from the checks here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from resnet_deploy.artifacts import require_file
from resnet_deploy.backends.base import BACKENDS, Runner
from resnet_deploy.bench.config import BackendSpec
from resnet_deploy.errors import InvalidInputError, MissingDependencyError
from resnet_deploy.optional import is_installed

# backend -> (pip extra that provides it, module that must be importable)
BACKEND_REQUIREMENTS: dict[str, tuple[str, str]] = {
    "torch": ("", "torch"),
    "torch-compile": ("", "torch"),
    "torch-cudagraph": ("gpu", "torch"),
    "ort-cpu": ("cpu", "onnxruntime"),
    "ort-cuda": ("gpu", "onnxruntime"),
    "ort-trt": ("gpu", "onnxruntime"),
    "tensorrt": ("tensorrt", "tensorrt"),
    "openvino": ("openvino", "openvino"),
}
# which artifact each backend runs
ARTIFACT_KIND = {"torch": "checkpoint", "torch-compile": "checkpoint", "torch-cudagraph": "checkpoint",
                 "ort-cpu": "onnx", "ort-cuda": "onnx", "ort-trt": "onnx", "openvino": "onnx", "tensorrt": "plan"}


def _load(module: str, attribute: str, backend: str) -> Any:
    try:
        return getattr(importlib.import_module(module), attribute)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("resnet_deploy"):
            raise MissingDependencyError(f"backend '{backend}' is not available in this build of resnet-deploy "
                                         f"({exc.name} is missing)") from exc
        raise
    except AttributeError as exc:
        raise MissingDependencyError(f"backend '{backend}': {module} has no {attribute}") from exc


def check_backend_available(backend: str) -> None:
    """MissingDependencyError (exit 3) naming the pip extra when the runtime is not installed."""
    if backend not in BACKENDS:
        raise InvalidInputError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    extra, module = BACKEND_REQUIREMENTS[backend]
    if backend == "tensorrt":
        from resnet_deploy.optional import tensorrt_module

        if tensorrt_module() is None:
            raise MissingDependencyError("backend 'tensorrt' needs TensorRT, which is not installed; "
                                         "install it: pip install 'resnet-deploy[tensorrt]'")
        return
    if not is_installed(module):
        hint = f"pip install 'resnet-deploy[{extra}]'" if extra else f"pip install {module}"
        raise MissingDependencyError(f"backend '{backend}' needs {module}, which is not installed; install it: {hint}")
    if backend in ("ort-cuda", "ort-trt"):
        import onnxruntime as ort

        provider = "CUDAExecutionProvider" if backend == "ort-cuda" else "TensorrtExecutionProvider"
        if provider not in ort.get_available_providers():
            raise MissingDependencyError(f"backend '{backend}' needs onnxruntime's {provider}, which this onnxruntime "
                                         "lacks; install it: pip install 'resnet-deploy[gpu]' (onnxruntime-gpu "
                                         "instead of onnxruntime)")


def available_backends(candidates: tuple[str, ...] = BACKENDS) -> dict[str, str | None]:
    """backend -> None when usable here, else the reason it is not (for reports and the suite)."""
    status: dict[str, str | None] = {}
    for backend in candidates:
        try:
            check_backend_available(backend)
            if backend in ("torch-cudagraph",):
                import torch

                if not torch.cuda.is_available():
                    raise MissingDependencyError("torch-cudagraph needs a CUDA device; none is visible")
            status[backend] = None
        except MissingDependencyError as exc:
            status[backend] = str(exc)
    return status


def _torch_runner(spec: BackendSpec, threads: int | None, input_size: tuple[int, int] | None) -> Runner:
    cls = _load("resnet_deploy.backends.torch_runner", "TorchRunner", spec.backend)
    options = dict(spec.options)
    options.setdefault("device", "cuda" if spec.backend == "torch-cudagraph" else "cpu")
    if threads is not None and not str(options["device"]).startswith("cuda"):
        options.setdefault("threads", threads)
    if input_size is not None:
        options.setdefault("input_size", input_size)
    source: Any = spec.artifact if spec.artifact is not None else spec.model
    if source is None:
        raise InvalidInputError(f"backend '{spec.backend}' needs --checkpoint PATH or --model NAME")
    return _construct(cls, source, options, backend=spec.backend)


def _construct(cls: Callable[..., Runner], source: Any, options: dict[str, Any], **extra: Any) -> Runner:
    """Call the runner's constructor with the options it accepts (runners differ a little)."""
    import inspect

    params = inspect.signature(cls).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    merged = {**extra, **options}
    kwargs = {k: v for k, v in merged.items() if accepts_any or k in params}
    ignored = sorted(set(options) - set(kwargs))
    if ignored:
        raise InvalidInputError(f"{getattr(cls, '__name__', cls)} does not take option(s) {', '.join(ignored)}")
    return cls(source, **kwargs)


def open_runner(spec: BackendSpec, *, threads: int | None = None, input_size: tuple[int, int] | None = None) -> Runner:
    """A runner for `spec`, not yet activated. Checks the artifact exists and the runtime is installed."""
    check_backend_available(spec.backend)
    if spec.artifact is not None:
        require_file(spec.artifact, ARTIFACT_KIND[spec.backend])
    if spec.backend.startswith("torch"):
        return _torch_runner(spec, threads, input_size)
    if spec.artifact is None:
        raise InvalidInputError(f"backend '{spec.backend}' needs an {ARTIFACT_KIND[spec.backend]} file "
                                f"({'--engine' if spec.backend == 'tensorrt' else '--onnx'})")
    options = dict(spec.options)
    if spec.backend == "ort-cpu":
        cls = _load("resnet_deploy.backends.onnxruntime_runner", "OnnxRuntimeRunner", spec.backend)
        return _construct(cls, spec.artifact, options, provider="cpu", threads=threads)
    if spec.backend in ("ort-cuda", "ort-trt"):
        cls = _load("resnet_deploy.backends.onnxruntime_gpu", "OnnxRuntimeGpuRunner", spec.backend)
        provider = "cuda" if spec.backend == "ort-cuda" else "tensorrt"
        return _construct(cls, spec.artifact, options, provider=provider)
    if spec.backend == "openvino":
        cls = _load("resnet_deploy.backends.openvino_runner", "OpenVinoRunner", spec.backend)
        options.setdefault("device", "CPU")
        return _construct(cls, spec.artifact, options, threads=threads)
    if spec.backend == "tensorrt":
        cls = _load("resnet_deploy.backends.tensorrt_runner", "TensorRTRunner", spec.backend)
        return _construct(cls, spec.artifact, options)
    raise InvalidInputError(f"unknown backend {spec.backend!r}; valid: {', '.join(BACKENDS)}")
