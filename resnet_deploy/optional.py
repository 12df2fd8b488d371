"""The one lazy-import mechanism: optional heavy dependencies with one clear error when they
are missing, and this package's own modules imported on first use.

Polygraphy's lesson: import tensorrt, onnxruntime-gpu, cuda-python and openvino inside the
leaf that needs them, so `resnet-deploy --help` and every CPU path work without them.

- `import_optional(names, purpose)`: a third-party module (the first of several spellings
  that imports), or MissingDependencyError (exit 3) naming the extra to install.
- `LazyModule(loader)`: a module-like proxy whose attributes import it on first use
  (`trt.Builder` in the TensorRT code, typed by the stubs for mypy).
- `lazy_exports(package, table)`: a package's `__getattr__` that imports the submodule
  holding a public name on first use; the CLI's command table resolves commands the same way
  (`import_attribute`).

Our own modules that one function needs are imported inside that function with a plain
`from ... import ...`, so import-linter sees the edge.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping, Sequence
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


def import_optional(names: str | Sequence[str], purpose: str) -> Any:
    """The first of `names` that imports, or MissingDependencyError saying what needs it and
    how to install it (several names: one package whose module moved between versions)."""
    candidates = [names] if isinstance(names, str) else list(names)
    errors: list[str] = []
    for name in candidates:
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            errors.append(str(exc))
    top = candidates[0].split(".")[0]
    hint = install_hint(MODULE_EXTRAS.get(top, ""), fallback=top)
    raise MissingDependencyError(f"{purpose} needs the '{candidates[0]}' package ({errors[-1]}); {hint}")


class LazyModule:
    """Stands for a module that `loader()` imports on the first attribute access."""

    def __init__(self, loader: Callable[[], Any]) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader(), name)


def import_attribute(module: str, name: str) -> Any:
    """`module.name`, importing `module` now (a module of this package: an ImportError in it
    is a real error and propagates)."""
    return getattr(importlib.import_module(module), name)


def lazy_exports(package: str, table: Mapping[str, str]) -> Callable[[str], Any]:
    """A `__getattr__` for `package` that imports `table[name]` (a module path) on first use,
    so importing the package stays light."""

    def __getattr__(name: str) -> Any:
        if name in table:
            return import_attribute(table[name], name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


def tensorrt_module() -> ModuleType | None:
    """The real TensorRT module, or None.

    `tensorrt-stubs` (installed for mypy) makes `import tensorrt` succeed as an empty
    namespace package, so a successful import proves nothing: TensorRT is present only when
    `tensorrt.Builder` or `tensorrt.Runtime` exists.
    """
    try:
        trt = import_optional("tensorrt", "TensorRT")
    except Exception:  # missing, or an install broken enough to fail on import
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
