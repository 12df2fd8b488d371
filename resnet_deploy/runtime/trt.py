"""The `tensorrt` module, typed for mypy and imported lazily at run time.

mypy reads `tensorrt` from the (mended) `tensorrt-stubs`, so every TensorRT call in this
package is type-checked: a misspelt method or a wrong argument fails CI without TensorRT.
At run time `trt` is a proxy that imports the real module on first use, with one clear
exit-3 line when it is missing (`tensorrt-stubs` alone make `import tensorrt` succeed as an
empty namespace package, so presence is decided by optional.require_tensorrt).

One code path for TensorRT 10.x and 11.x: only APIs present in both are used (TensorRT 11
removed the precision builder flags, the INT8 calibrators and platform_has_fast_fp16; the
network is strongly typed and precision comes from the ONNX graph).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from resnet_deploy.optional import LazyModule, require_tensorrt

if TYPE_CHECKING:
    import tensorrt as trt
else:
    trt = LazyModule(lambda: require_tensorrt("TensorRT"))

log = logging.getLogger("resnet_deploy.tensorrt")

# TensorRT DataType names -> numpy dtype names (bf16/fp8 have no numpy type: kept as names).
TRT_DTYPE_NAMES = {"FLOAT": "float32", "HALF": "float16", "INT8": "int8", "INT32": "int32", "INT64": "int64",
                   "BOOL": "bool", "UINT8": "uint8", "BF16": "bfloat16", "FP8": "float8", "INT4": "int4", "FP4": "fp4"}

__all__ = ["TRT_DTYPE_NAMES", "CapturingLogger", "dims_list", "parse_version", "strongly_typed_flags", "tensorrt_version", "trt"]


def tensorrt_version() -> str:
    """The installed TensorRT's version string (exit 3 when TensorRT is missing)."""
    return str(require_tensorrt("TensorRT").__version__)


def parse_version(text: str) -> tuple[int, ...]:
    """"10.13.0.35" -> (10, 13, 0, 35); non-numeric parts end the tuple."""
    parts: list[int] = []
    for piece in str(text).split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits or digits != piece:
            if digits and piece.startswith(digits):
                parts.append(int(digits))
            break
        parts.append(int(digits))
    return tuple(parts)


def dims_list(dims: trt.Dims) -> list[int]:
    """A TensorRT Dims as a list of ints (-1 for a dynamic axis)."""
    return [int(dims[i]) for i in range(len(dims))]


def strongly_typed_flags() -> int:
    """create_network() flags for a strongly typed network on TensorRT 10 and 11.

    TensorRT 10 needs STRONGLY_TYPED to honour the graph's types; TensorRT 11 deprecates the
    flag (always strongly typed) and ignores it, so setting it when it exists is right for both.
    """
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 1 << int(flag) if flag is not None else 0


_SEVERITY_TO_LOGGING = {"INTERNAL_ERROR": logging.CRITICAL, "ERROR": logging.ERROR, "WARNING": logging.WARNING,
                        "INFO": logging.INFO, "VERBOSE": logging.DEBUG}


def CapturingLogger(verbose: bool = False) -> trt.ILogger:
    """A TensorRT logger that forwards to Python logging and keeps the last errors, so a failed
    parse, build or deserialization can name TensorRT's own reason in its one-line message.

    Built inside a function because subclassing trt.ILogger needs the real module.
    """

    class _Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []
            self._lock = threading.Lock()

        def log(self, severity: trt.ILogger.Severity, msg: str) -> None:
            level = _SEVERITY_TO_LOGGING.get(getattr(severity, "name", str(severity)).split(".")[-1], logging.INFO)
            if level >= logging.ERROR:
                with self._lock:
                    self.errors.append(msg)
                    del self.errors[:-20]
            if level >= logging.WARNING or verbose:
                log.log(level if level >= logging.WARNING else logging.INFO, "TensorRT: %s", msg)

        def last_error(self) -> str:
            with self._lock:
                return self.errors[-1] if self.errors else "no error message from TensorRT"

    return _Logger()


def last_error(logger: Any) -> str:
    """The last error a CapturingLogger saw (or a placeholder for any other logger)."""
    getter = getattr(logger, "last_error", None)
    return str(getter()) if callable(getter) else "see TensorRT's log above"
