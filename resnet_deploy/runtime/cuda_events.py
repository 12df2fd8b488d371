"""CUDA events and streams for the GPU timing loop (streams given as integer cudaStream_t handles).

Two implementations of one small interface, chosen lazily: cuda-python's runtime bindings
(what the TensorRT runner already uses) or torch.cuda.Event on a torch.cuda.ExternalStream
(present wherever a CUDA torch is). Neither is imported until a GPU benchmark starts, so this
module imports fine on a CPU machine; without CUDA, `cuda_event_api()` raises
MissingDependencyError (exit 3) with one line.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from resnet_deploy.errors import MissingDependencyError
from resnet_deploy.runtime.cuda import cuda_call, cudart, error_code

log = logging.getLogger(__name__)


class EventApi(Protocol):
    """Create/record/synchronize events and read the time between two of them."""

    name: str

    def create(self) -> Any: ...

    def record(self, event: Any, stream: int) -> None: ...

    def synchronize(self, event: Any) -> None: ...

    def elapsed_ms(self, start: Any, end: Any) -> float: ...

    def destroy(self, event: Any) -> None: ...

    def create_stream(self) -> int:
        """A new non-blocking stream (the input and output streams of trtexec's scheme)."""
        ...

    def destroy_stream(self, stream: int) -> None: ...

    def wait(self, stream: int, event: Any) -> None:
        """Make `stream` wait (on the GPU, not the host) until `event` has completed."""
        ...

    def stream_idle(self, stream: int) -> bool:
        """Whether every piece of work enqueued on `stream` has finished (a non-blocking query)."""
        ...

    def graph_capture(self, stream: int, enqueue: Any) -> Any:
        """Capture what `enqueue()` puts on `stream` into an instantiated CUDA graph."""
        ...

    def graph_launch(self, graph: Any, stream: int) -> None: ...

    def graph_destroy(self, graph: Any) -> None: ...


CUDA_ERROR_NOT_READY = 600  # cudaErrorNotReady: a query found work still running


def raise_original(original: BaseException, cleanup_error: BaseException | None, what: str) -> None:
    """Re-raise `original`; a failure of the cleanup after it (ending an invalidated capture)
    is logged, never allowed to replace the error that explains what went wrong."""
    if cleanup_error is not None:
        log.warning("%s after a failed capture also failed: %s", what, cleanup_error)
    raise original


class CudartEvents:
    """cuda-python (`cuda.bindings.runtime`, or the older `cuda.cudart`)."""

    name = "cuda-python"

    def __init__(self, cudart: Any) -> None:
        self._rt = cudart
        self._streams: dict[int, Any] = {}

    def create(self) -> Any:
        return cuda_call(self._rt.cudaEventCreate(), "cudaEventCreate")

    def record(self, event: Any, stream: int) -> None:
        cuda_call(self._rt.cudaEventRecord(event, stream), "cudaEventRecord")

    def synchronize(self, event: Any) -> None:
        cuda_call(self._rt.cudaEventSynchronize(event), "cudaEventSynchronize")

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return float(cuda_call(self._rt.cudaEventElapsedTime(start, end), "cudaEventElapsedTime"))

    def destroy(self, event: Any) -> None:
        cuda_call(self._rt.cudaEventDestroy(event), "cudaEventDestroy")

    def create_stream(self) -> int:
        stream = cuda_call(self._rt.cudaStreamCreateWithFlags(self._rt.cudaStreamNonBlocking), "cudaStreamCreateWithFlags")
        self._streams[int(stream)] = stream
        return int(stream)

    def destroy_stream(self, stream: int) -> None:
        cuda_call(self._rt.cudaStreamDestroy(self._streams.pop(stream, stream)), "cudaStreamDestroy")

    def wait(self, stream: int, event: Any) -> None:
        cuda_call(self._rt.cudaStreamWaitEvent(stream, event, 0), "cudaStreamWaitEvent")

    def stream_idle(self, stream: int) -> bool:
        result = self._rt.cudaStreamQuery(stream)
        if error_code(result) == CUDA_ERROR_NOT_READY:
            return False
        cuda_call(result, "cudaStreamQuery")
        return True

    def graph_capture(self, stream: int, enqueue: Any) -> Any:
        rt = self._rt
        cuda_call(rt.cudaStreamBeginCapture(stream, rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture")
        try:
            enqueue()
        except BaseException as original:
            # End the (now invalid) capture so the stream is usable again, but keep the error
            # that says what failed: cudaStreamEndCapture's own error would hide it.
            cleanup: BaseException | None = None
            try:
                graph = cuda_call(rt.cudaStreamEndCapture(stream), "cudaStreamEndCapture")
                if graph is not None:
                    cuda_call(rt.cudaGraphDestroy(graph), "cudaGraphDestroy")
            except BaseException as exc:
                cleanup = exc
            raise_original(original, cleanup, "cudaStreamEndCapture")
        graph = cuda_call(rt.cudaStreamEndCapture(stream), "cudaStreamEndCapture")
        try:
            graph_exec = cuda_call(rt.cudaGraphInstantiate(graph, 0), "cudaGraphInstantiate")
        except BaseException:
            cuda_call(rt.cudaGraphDestroy(graph), "cudaGraphDestroy")
            raise
        return graph_exec, graph

    def graph_launch(self, graph: Any, stream: int) -> None:
        cuda_call(self._rt.cudaGraphLaunch(graph[0], stream), "cudaGraphLaunch")

    def graph_destroy(self, graph: Any) -> None:
        cuda_call(self._rt.cudaGraphExecDestroy(graph[0]), "cudaGraphExecDestroy")
        cuda_call(self._rt.cudaGraphDestroy(graph[1]), "cudaGraphDestroy")


class TorchEvents:
    """torch.cuda.Event recorded on torch.cuda.ExternalStream(handle)."""

    name = "torch.cuda"

    def __init__(self, torch: Any) -> None:
        self._torch = torch
        self._streams: dict[int, Any] = {}

    def _stream(self, handle: int) -> Any:
        if handle not in self._streams:
            self._streams[handle] = self._torch.cuda.ExternalStream(handle)
        return self._streams[handle]

    def create(self) -> Any:
        return self._torch.cuda.Event(enable_timing=True)

    def record(self, event: Any, stream: int) -> None:
        event.record(self._stream(stream))

    def synchronize(self, event: Any) -> None:
        event.synchronize()

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return float(start.elapsed_time(end))

    def destroy(self, event: Any) -> None:
        del event

    def create_stream(self) -> int:
        stream = self._torch.cuda.Stream()
        self._streams[int(stream.cuda_stream)] = stream
        return int(stream.cuda_stream)

    def destroy_stream(self, stream: int) -> None:
        self._streams.pop(stream, None)  # torch frees its streams with the object

    def wait(self, stream: int, event: Any) -> None:
        self._stream(stream).wait_event(event)

    def stream_idle(self, stream: int) -> bool:
        return bool(self._stream(stream).query())

    def graph_capture(self, stream: int, enqueue: Any) -> Any:
        graph = self._torch.cuda.CUDAGraph()
        capture_graph(self._torch, graph, self._stream(stream), enqueue)
        return graph

    def graph_launch(self, graph: Any, stream: int) -> None:
        with self._torch.cuda.stream(self._stream(stream)):
            graph.replay()

    def graph_destroy(self, graph: Any) -> None:
        graph.reset()


def capture_graph(torch: Any, graph: Any, stream: Any, enqueue: Any) -> None:
    """`with torch.cuda.graph(graph, stream=stream): enqueue()`, except that when `enqueue`
    fails and ending the capture fails too, the first error is the one raised."""
    failure: BaseException | None = None
    try:
        with torch.cuda.graph(graph, stream=stream):
            try:
                enqueue()
            except BaseException as exc:
                failure = exc
                raise
    except BaseException as exc:
        if failure is not None and exc is not failure:
            raise_original(failure, exc, "ending the torch CUDA graph capture")
        raise


def cuda_event_api(prefer: str | None = None) -> EventApi:
    """The first usable CUDA event API ("cuda-python" or "torch"), or exit 3 in one line."""
    errors = []
    if prefer in (None, "cuda-python"):
        try:
            rt = cudart()
            cuda_call(rt.cudaGetDeviceCount(), "cudaGetDeviceCount")
            return CudartEvents(rt)
        except Exception as exc:  # not installed, or no driver/device
            errors.append(f"cuda-python: {exc}")
    if prefer in (None, "torch"):
        try:
            import torch

            if torch.cuda.is_available():
                return TorchEvents(torch)
            errors.append("torch: CUDA is not available")
        except Exception as exc:
            errors.append(f"torch: {exc}")
    raise MissingDependencyError("GPU timing needs CUDA (cuda-python or a CUDA build of torch) and a visible GPU; "
                                 "none found (" + "; ".join(errors[-2:]) + ")")
