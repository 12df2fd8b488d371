"""Lazy imports of optional heavy dependencies, with one clear error when they are missing.

Polygraphy's lesson: import tensorrt, onnxruntime-gpu, cuda-python and openvino inside the
leaf that needs them, so `resnet-deploy --help` and every CPU path work without them.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from resnet_deploy.errors import MissingDependencyError

# top-level module -> the pip extra of this package that provides it
MODULE_EXTRAS = {"onnxruntime": "cpu", "tensorrt": "tensorrt", "cuda": "tensorrt", "openvino": "openvino",
                 "pynvml": "gpu", "tritonclient": "serve",
                 "mlperf_loadgen": "mlperf"}
# What else an extra needs besides pip packages.
_EXTRA_NOTES = {
    "gpu": "onnxruntime-gpu replaces onnxruntime (uninstall onnxruntime first, never both); needs an NVIDIA GPU "
           "and driver",
    "tensorrt": "needs an NVIDIA GPU and driver",
}


def _checkout_root() -> Path | None:
    """The source checkout this copy runs from (an editable install), or None."""
    root = Path(__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    try:
        return root if pyproject.is_file() and 'name = "resnet-deploy"' in pyproject.read_text(encoding="utf-8") else None
    except OSError:
        return None


def _extra_requirements(extra: str) -> list[str]:
    """The requirements an extra adds, read from this package's own metadata."""
    from importlib import metadata

    try:
        requires = metadata.requires("resnet-deploy") or []
    except metadata.PackageNotFoundError:
        return []
    marker = f'extra == "{extra}"'
    return [r.split(";")[0].strip() for r in requires if marker in r]


def install_hint(extra: str, fallback: str = "") -> str:
    """How to install what an extra provides, from where this copy of resnet-deploy is: the
    packages themselves (always works), or the extra of this checkout (editable install);
    plus what pip cannot install (a GPU, a driver)."""
    requirements = _extra_requirements(extra) if extra else []
    packages = " ".join(f"'{r}'" if any(c in r for c in "<>=!~") else r for r in requirements) or fallback
    checkout = _checkout_root()
    if checkout is not None and extra:
        hint = f"install it: pip install -e '{checkout}[{extra}]'" + (f" (or: pip install {packages})" if packages else "")
    else:
        hint = f"install it: pip install {packages}" if packages else "install it with pip"
    note = _EXTRA_NOTES.get(extra)
    return f"{hint}; {note}" if note else hint


def import_optional(name: str, purpose: str) -> Any:
    """Import `name` or raise MissingDependencyError saying what needs it and how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        top = name.split(".")[0]
        hint = install_hint(MODULE_EXTRAS.get(top, ""), fallback=top)
        raise MissingDependencyError(f"{purpose} needs the '{name}' package ({exc}); {hint}") from exc


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
        raise MissingDependencyError(f"{purpose} needs TensorRT, which is not installed; {install_hint('tensorrt')}")
    return trt


def is_installed(name: str) -> bool:
    """Whether a top-level module can be found, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
