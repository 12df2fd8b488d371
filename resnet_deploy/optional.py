"""Lazy imports of optional heavy dependencies, with one clear error when they are missing.

Polygraphy's lesson: import tensorrt, onnxruntime-gpu, cuda-python and openvino inside the
leaf that needs them, so `resnet-deploy --help` and every CPU path work without them.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any

from resnet_deploy.errors import MissingDependencyError

# module name -> (pip extra, what to install by hand)
_INSTALL_HINTS = {
    "onnxruntime": ("cpu", "pip install onnxruntime  (or onnxruntime-gpu on a CUDA machine, never both)"),
    "tensorrt": ("tensorrt", "pip install 'resnet-deploy[tensorrt]'  (TensorRT 10.x or 11.x)"),
    "cuda": ("tensorrt", "pip install cuda-python"),
    "cuda.bindings": ("tensorrt", "pip install cuda-python"),
    "openvino": ("openvino", "pip install 'resnet-deploy[openvino]'"),
    "pynvml": ("gpu", "pip install nvidia-ml-py"),
}


def import_optional(name: str, purpose: str) -> Any:
    """Import `name` or raise MissingDependencyError saying what needs it and how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        _, hint = _INSTALL_HINTS.get(name.split(".")[0], ("", f"pip install {name}"))
        raise MissingDependencyError(f"{purpose} needs the '{name}' package ({exc}); install it: {hint}") from exc


def tensorrt_module() -> ModuleType | None:
    """The real TensorRT module, or None.

    `tensorrt-stubs` (installed for mypy) makes `import tensorrt` succeed as an empty
    namespace package, so a successful import proves nothing: TensorRT is present only when
    `tensorrt.Builder` or `tensorrt.Runtime` exists.
    """
    try:
        trt = importlib.import_module("tensorrt")
    except Exception:
        return None
    if hasattr(trt, "Runtime") or hasattr(trt, "Builder"):
        return trt
    return None


def require_tensorrt(purpose: str) -> Any:
    """The TensorRT module, or MissingDependencyError (exit 3) naming the extra to install."""
    trt = tensorrt_module()
    if trt is None:
        _, hint = _INSTALL_HINTS["tensorrt"]
        raise MissingDependencyError(f"{purpose} needs TensorRT, which is not installed; install it: {hint}")
    return trt


def is_installed(name: str) -> bool:
    """Whether a top-level module can be found, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
