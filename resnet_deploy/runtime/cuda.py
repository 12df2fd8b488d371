"""cuda-python helpers: one error check, and buffers, streams and graphs with explicit owners.

Why cuda-python and not pycuda: cuda-python is NVIDIA's own binding of the CUDA runtime and
driver APIs, the one TensorRT's current samples use; it needs no context push/pop (the runtime
API uses the primary context that TensorRT and torch also use), installs as a wheel without a
compiler, and follows every CUDA release. pycuda creates its own driver context, which then
has to be kept current on every thread that touches TensorRT.

Every cuda-python call returns `(err, *results)`; `cuda_call` checks `err` and returns the
results, so no error is silently dropped (NVIDIA's samples check them the same way). Nothing
here is imported until a GPU path needs it: without cuda-python or a GPU the error is one
line and exit 3.
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from resnet_deploy.errors import MissingDependencyError, ResnetDeployError
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.optional import import_optional

log = logging.getLogger(__name__)

# cudaError_t values that mean "no usable GPU here" rather than a bug: exit 3, not a traceback.
_NO_DEVICE_ERRORS = {35: "the NVIDIA driver is older than this CUDA runtime",
                     100: "no CUDA-capable GPU is visible",
                     999: "the CUDA driver failed to initialise (no GPU or a broken driver)",
                     3: "the CUDA driver failed to initialise",
                     34: "the CUDA driver is not running (stub library loaded)"}


class CudaError(ResnetDeployError, RuntimeError):
    """A CUDA runtime call failed on a machine that has a GPU (a device fault or a bug)."""

    exit_code = 1


def cudart() -> Any:
    """cuda-python's runtime module (`cuda.bindings.runtime`, or the older `cuda.cudart`)."""
    return import_optional(("cuda.bindings.runtime", "cuda.cudart"), "this GPU path")


def error_code(result: Any) -> int:
    """The cudaError_t of a cuda-python result (a `(err, *values)` tuple or a bare err)."""
    err = result[0] if isinstance(result, tuple) else result
    return int(getattr(err, "value", err) or 0)


def cuda_call(result: Any, what: str = "CUDA call") -> Any:
    """Check cuda-python's `(err, *results)` tuple; return None, the one result, or a tuple.

    Raises MissingDependencyError (exit 3) for "no GPU / no driver" errors and CudaError for
    the rest, naming the call and CUDA's own error name.
    """
    err, *values = result if isinstance(result, tuple) else (result,)
    code = error_code(err)
    if code != 0:
        name = getattr(err, "name", None) or f"cudaError {code}"
        if code in _NO_DEVICE_ERRORS:
            raise MissingDependencyError(f"{what} failed: {_NO_DEVICE_ERRORS[code]} ({name}); "
                                         "run on a machine with an NVIDIA GPU and driver")
        raise CudaError(f"{what} failed with {name}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


@dataclass(frozen=True)
class GpuProperties:
    index: int
    name: str
    compute_capability: str  # "8.6"
    total_memory: int

    @property
    def cc_tuple(self) -> tuple[int, int]:
        major, minor = self.compute_capability.split(".")
        return int(major), int(minor)

    def to_dict(self) -> JsonObject:
        return {"index": self.index, "name": self.name, "compute_capability": self.compute_capability,
                "memory_gib": round(self.total_memory / 2**30, 1)}


def gpu_properties(device: int = 0) -> GpuProperties:
    """Name and compute capability of GPU `device`, from cuda-python, else from a CUDA torch.

    MissingDependencyError (exit 3) when neither can see a GPU.
    """
    try:
        rt = cudart()
    except MissingDependencyError:
        rt = None
    if rt is not None:
        count = cuda_call(rt.cudaGetDeviceCount(), "cudaGetDeviceCount")
        if device >= int(count):
            raise MissingDependencyError(f"GPU {device} does not exist: {count} CUDA device(s) visible")
        prop = cuda_call(rt.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
        name = prop.name.decode(errors="replace") if isinstance(prop.name, bytes) else str(prop.name)
        return GpuProperties(device, name.rstrip("\x00").strip(), f"{prop.major}.{prop.minor}", int(prop.totalGlobalMem))
    import torch

    if torch.cuda.is_available() and device < torch.cuda.device_count():
        props = torch.cuda.get_device_properties(device)
        return GpuProperties(device, props.name, f"{props.major}.{props.minor}", int(props.total_memory))
    raise MissingDependencyError("no CUDA GPU is visible (cuda-python is not installed and torch has no CUDA); "
                                 "install cuda-python on a machine with an NVIDIA GPU")


class CudaStream:
    """A non-blocking CUDA stream this object owns; `handle` is the integer cudaStream_t."""

    def __init__(self) -> None:
        self._rt = cudart()
        self._stream: Any = cuda_call(self._rt.cudaStreamCreateWithFlags(self._rt.cudaStreamNonBlocking),
                                      "cudaStreamCreateWithFlags")

    @property
    def handle(self) -> int:
        if self._stream is None:
            raise CudaError("the CUDA stream was already destroyed")
        return int(self._stream)

    @property
    def raw(self) -> Any:
        return self._stream

    def synchronize(self) -> None:
        cuda_call(self._rt.cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")

    def close(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            cuda_call(self._rt.cudaStreamDestroy(stream), "cudaStreamDestroy")


class DeviceBuffer:
    """`nbytes` of device memory (cudaMalloc); `ptr` is the device address."""

    def __init__(self, nbytes: int) -> None:
        self._rt = cudart()
        self.nbytes = max(int(nbytes), 1)
        self.ptr: int = int(cuda_call(self._rt.cudaMalloc(self.nbytes), "cudaMalloc"))

    def close(self) -> None:
        if self.ptr:
            ptr, self.ptr = self.ptr, 0
            cuda_call(self._rt.cudaFree(ptr), "cudaFree")


class PinnedBuffer:
    """`nbytes` of page-locked host memory (fast, asynchronous copies) with a numpy byte view,
    so FP16/BF16/INT8 tensors of any dtype live in the same kind of buffer."""

    def __init__(self, nbytes: int) -> None:
        self._rt = cudart()
        self.nbytes = max(int(nbytes), 1)
        self.ptr: int = int(cuda_call(self._rt.cudaMallocHost(self.nbytes), "cudaMallocHost"))
        raw = (ctypes.c_uint8 * self.nbytes).from_address(self.ptr)
        self.bytes: np.ndarray = np.ctypeslib.as_array(raw)

    def view(self, dtype: np.dtype[Any], shape: tuple[int, ...]) -> np.ndarray:
        count = int(np.prod(shape)) if shape else 1
        nbytes = count * np.dtype(dtype).itemsize
        if nbytes > self.nbytes:
            raise CudaError(f"pinned buffer of {self.nbytes} bytes cannot hold {shape} {np.dtype(dtype)}")
        return self.bytes[:nbytes].view(dtype).reshape(shape)

    def close(self) -> None:
        if self.ptr:
            ptr, self.ptr = self.ptr, 0
            self.bytes = np.empty(0, dtype=np.uint8)
            cuda_call(self._rt.cudaFreeHost(ptr), "cudaFreeHost")


def _stream_handle(stream: CudaStream | int) -> Any:
    """cuda-python takes a cudaStream_t or a plain integer handle (0 is the legacy default stream)."""
    return stream.raw if isinstance(stream, CudaStream) else int(stream)


def memcpy_htod_async(dst: int, src: int, nbytes: int, stream: CudaStream | int) -> None:
    rt = cudart()
    cuda_call(rt.cudaMemcpyAsync(dst, src, nbytes, rt.cudaMemcpyKind.cudaMemcpyHostToDevice, _stream_handle(stream)),
              "cudaMemcpyAsync (host to device)")


def memcpy_dtoh_async(dst: int, src: int, nbytes: int, stream: CudaStream | int) -> None:
    rt = cudart()
    cuda_call(rt.cudaMemcpyAsync(dst, src, nbytes, rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, _stream_handle(stream)),
              "cudaMemcpyAsync (device to host)")


class CudaGraph:
    """A captured, instantiated CUDA graph of whatever `enqueue()` puts on `stream`."""

    def __init__(self, stream: CudaStream, enqueue: Any) -> None:
        self._rt = rt = cudart()
        mode = rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        cuda_call(rt.cudaStreamBeginCapture(stream.raw, mode), "cudaStreamBeginCapture")
        try:
            enqueue()
        except BaseException:
            # End the capture so the stream is usable again, but never let its own failure (the
            # capture was already invalidated) replace the error that explains what went wrong.
            end_capture_after_error(rt.cudaStreamEndCapture(stream.raw), rt)
            raise
        graph: Any = cuda_call(rt.cudaStreamEndCapture(stream.raw), "cudaStreamEndCapture")
        self._graph: Any = graph
        try:
            self._exec: Any = cuda_call(rt.cudaGraphInstantiate(graph, 0), "cudaGraphInstantiate")
        except BaseException:
            cuda_call(rt.cudaGraphDestroy(graph), "cudaGraphDestroy")
            raise

    def launch(self, stream: CudaStream) -> None:
        cuda_call(self._rt.cudaGraphLaunch(self._exec, stream.raw), "cudaGraphLaunch")

    def close(self) -> None:
        if self._exec is not None:
            graph_exec, self._exec = self._exec, None
            cuda_call(self._rt.cudaGraphExecDestroy(graph_exec), "cudaGraphExecDestroy")
        if self._graph is not None:
            graph, self._graph = self._graph, None
            cuda_call(self._rt.cudaGraphDestroy(graph), "cudaGraphDestroy")


def end_capture_after_error(result: Any, rt: Any) -> None:
    """After the captured work failed: destroy whatever graph cudaStreamEndCapture returned and
    only log its error (cudaErrorStreamCaptureInvalidated and the like), so the caller re-raises
    the original failure."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if error_code(err) != 0:
        log.warning("cudaStreamEndCapture after a failed capture: %s", getattr(err, "name", err))
        return
    if values and values[0] is not None:
        try:
            cuda_call(rt.cudaGraphDestroy(values[0]), "cudaGraphDestroy")
        except Exception as exc:
            log.warning("freeing the graph of a failed capture: %s", exc)


def close_all(resources: list[Any]) -> None:
    """Close every resource (last first) even when one fails, then raise the first failure:
    nothing leaks and no error is swallowed."""
    first: BaseException | None = None
    while resources:
        resource = resources.pop()
        try:
            resource.close()
        except BaseException as exc:  # keep freeing the rest
            log.error("freeing %s failed: %s", type(resource).__name__, exc)
            first = first or exc
    if first is not None:
        raise first
