"""CUDA-event timing on a runner's own stream (given as the integer cudaStream_t handle).

Two implementations of one small interface, chosen lazily: cuda-python's runtime bindings
(what the TensorRT runner already uses) or torch.cuda.Event on a torch.cuda.ExternalStream
(present wherever a CUDA torch is). Neither is imported until a GPU benchmark starts, so this
module imports fine on a CPU machine; without CUDA, `cuda_event_api()` raises
MissingDependencyError (exit 3) with one line.
"""

from __future__ import annotations

from typing import Any, Protocol

from resnet_deploy.errors import MissingDependencyError


class EventApi(Protocol):
    """Create/record/synchronize events and read the time between two of them."""

    name: str

    def create(self) -> Any: ...

    def record(self, event: Any, stream: int) -> None: ...

    def synchronize(self, event: Any) -> None: ...

    def elapsed_ms(self, start: Any, end: Any) -> float: ...

    def destroy(self, event: Any) -> None: ...

    def graph_capture(self, stream: int, enqueue: Any) -> Any:
        """Capture what `enqueue()` puts on `stream` into an instantiated CUDA graph."""
        ...

    def graph_launch(self, graph: Any, stream: int) -> None: ...

    def graph_destroy(self, graph: Any) -> None: ...


def _check(result: Any) -> Any:
    """cuda-python returns (err, *values): raise on an error, return the values."""
    err, *values = result if isinstance(result, tuple) else (result,)
    code = int(getattr(err, "value", err) or 0)
    if code != 0:
        raise RuntimeError(f"CUDA runtime error {err}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


class CudartEvents:
    """cuda-python (`cuda.bindings.runtime`, or the older `cuda.cudart`)."""

    name = "cuda-python"

    def __init__(self, cudart: Any) -> None:
        self._rt = cudart

    def create(self) -> Any:
        return _check(self._rt.cudaEventCreate())

    def record(self, event: Any, stream: int) -> None:
        _check(self._rt.cudaEventRecord(event, stream))

    def synchronize(self, event: Any) -> None:
        _check(self._rt.cudaEventSynchronize(event))

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return float(_check(self._rt.cudaEventElapsedTime(start, end)))

    def destroy(self, event: Any) -> None:
        _check(self._rt.cudaEventDestroy(event))

    def graph_capture(self, stream: int, enqueue: Any) -> Any:
        rt = self._rt
        _check(rt.cudaStreamBeginCapture(stream, rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal))
        try:
            enqueue()
        finally:
            graph = _check(rt.cudaStreamEndCapture(stream))
        graph_exec = _check(rt.cudaGraphInstantiate(graph, 0))
        return graph_exec, graph

    def graph_launch(self, graph: Any, stream: int) -> None:
        _check(self._rt.cudaGraphLaunch(graph[0], stream))

    def graph_destroy(self, graph: Any) -> None:
        _check(self._rt.cudaGraphExecDestroy(graph[0]))
        _check(self._rt.cudaGraphDestroy(graph[1]))


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

    def graph_capture(self, stream: int, enqueue: Any) -> Any:
        graph = self._torch.cuda.CUDAGraph()
        with self._torch.cuda.graph(graph, stream=self._stream(stream)):
            enqueue()
        return graph

    def graph_launch(self, graph: Any, stream: int) -> None:
        with self._torch.cuda.stream(self._stream(stream)):
            graph.replay()

    def graph_destroy(self, graph: Any) -> None:
        graph.reset()


def cuda_event_api(prefer: str | None = None) -> EventApi:
    """The first usable CUDA event API ("cuda-python" or "torch"), or exit 3 in one line."""
    errors = []
    if prefer in (None, "cuda-python"):
        for module in ("cuda.bindings.runtime", "cuda.cudart"):
            try:
                import importlib

                rt = importlib.import_module(module)
                _check(rt.cudaGetDeviceCount())
                return CudartEvents(rt)
            except Exception as exc:  # not installed, or no driver/device
                errors.append(f"{module}: {exc}")
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
