"""The one small interface every runtime implements (Polygraphy's runner pattern).

A runner is a context manager: `activate()` loads the model and allocates, `infer()` runs
tensors by name (`dict[str, np.ndarray]` in and out, never by position), `deactivate()` frees
everything, also after an error. Loading an artifact is kept apart from running it. Calling
`infer` on an inactive runner is a programming error (RuntimeError), not bad input.

Threads: `infer` may be called from many threads at once on every runner; each runner's
docstring says how it keeps that safe (onnxruntime sessions are thread-safe, OpenVINO gets
one infer request per concurrent call, runners with shared device buffers serialize).

GPU runners also implement `DeviceTimingHooks`, which lets the benchmark harness time like
trtexec: it stages inputs once, then enqueues copies and compute on the runner's own CUDA
stream and records CUDA events between them, without waiting on Python in between.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from types import TracebackType
from typing import Protocol, runtime_checkable

import numpy as np

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.tensor_info import TensorInfo

__all__ = ["DeviceTimingHooks", "Runner", "StaticIORunner", "TensorInfo"]


class Runner(abc.ABC):
    """Base class. Subclasses set `name` (a backend of backends.registry) and `device` ("cpu" or "cuda")."""

    name: str = "runner"
    device: str = "cpu"

    def __init__(self) -> None:
        self._active = False

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> Runner:
        self.activate()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.deactivate()

    @property
    def is_active(self) -> bool:
        return self._active

    def activate(self) -> None:
        if not self._active:
            self._activate()
            self._active = True

    def deactivate(self) -> None:
        if self._active:
            try:
                self._deactivate()
            finally:
                self._active = False

    @abc.abstractmethod
    def _activate(self) -> None:
        """Load the model / build the session and allocate what `infer` needs."""

    @abc.abstractmethod
    def _deactivate(self) -> None:
        """Free everything `_activate` made; must not raise on a half-activated runner."""

    # -- inference -----------------------------------------------------------------------
    @abc.abstractmethod
    def inputs(self) -> list[TensorInfo]: ...

    @abc.abstractmethod
    def outputs(self) -> list[TensorInfo]: ...

    @abc.abstractmethod
    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run synchronously on host arrays; returns host arrays by output name."""

    def batch_limits(self) -> tuple[int, int | None]:
        """(min, max) batch the artifact accepts; max None means unbounded (dynamic ONNX)."""
        return (1, None)

    def describe(self) -> JsonObject:
        """What a report should say about this runner (provider, precision, threads, ...)."""
        return {"backend": self.name, "device": self.device}

    # -- checks shared by all runners ---------------------------------------------------
    def check_feeds(self, feeds: Mapping[str, np.ndarray]) -> int:
        """Refuse wrong names, dtypes, ranks, non-batch dims and batches outside the limits
        with one clear InvalidInputError. Returns the batch size."""
        expected = {t.name: t for t in self.inputs()}
        if set(feeds) != set(expected):
            raise InvalidInputError(f"{self.name}: inputs must be {sorted(expected)}, got {sorted(feeds)}")
        batch = None
        for name, array in feeds.items():
            info = expected[name]
            if array.dtype != info.dtype:
                raise InvalidInputError(f"{self.name}: input '{name}' must be {info.dtype}, got {array.dtype}")
            if array.ndim != len(info.shape):
                raise InvalidInputError(f"{self.name}: input '{name}' must have {len(info.shape)} dimensions "
                                        f"{_shape_text(info.shape)}, got shape {tuple(array.shape)}")
            for axis, (want, got) in enumerate(zip(info.shape, array.shape, strict=True)):
                if axis > 0 and isinstance(want, int) and want >= 0 and want != got:
                    raise InvalidInputError(f"{self.name}: input '{name}' must have shape {_shape_text(info.shape)}, "
                                            f"got {tuple(array.shape)}")
            batch = array.shape[0] if array.ndim else 1
        assert batch is not None
        low, high = self.batch_limits()
        if batch < low or (high is not None and batch > high):
            raise InvalidInputError(f"{self.name}: batch {batch} is outside the supported range "
                                    f"{low}..{high if high is not None else 'unbounded'}")
        return int(batch)


class StaticIORunner(Runner):
    """Base for runners whose I/O tensors are fixed once activated (an onnxruntime session, a
    compiled OpenVINO model): `_activate` fills `_inputs`/`_outputs`, `_deactivate` empties them,
    and the accessors and batch limits follow from that."""

    def __init__(self) -> None:
        super().__init__()
        self._inputs: list[TensorInfo] = []
        self._outputs: list[TensorInfo] = []

    def _require_active(self) -> None:
        if not self._inputs:
            raise RuntimeError(f"{self.name}: the runner is not active; use it as a context manager or call activate()")

    def inputs(self) -> list[TensorInfo]:
        self._require_active()
        return list(self._inputs)

    def outputs(self) -> list[TensorInfo]:
        self._require_active()
        return list(self._outputs)

    def batch_limits(self) -> tuple[int, int | None]:
        """A fixed batch axis pins the batch; a dynamic one accepts any."""
        if self._inputs and not self._inputs[0].is_dynamic(0):
            fixed = int(self._inputs[0].shape[0])  # type: ignore[arg-type]
            return (fixed, fixed)
        return (1, None)


def _shape_text(shape: tuple[int | str | None, ...]) -> str:
    return "(" + ", ".join("N" if not isinstance(d, int) or d < 0 else str(d) for d in shape) + ")"


@runtime_checkable
class DeviceTimingHooks(Protocol):
    """What a GPU runner offers the benchmark harness (implemented by the TensorRT, onnxruntime
    CUDA/TensorRT-EP and torch CUDA runners).

    The harness calls `stage` once per batch size, then per iteration records CUDA events
    around `enqueue_h2d` (on an input stream it passes), `enqueue_compute` (on `stream`) and
    `enqueue_d2h` (on an output stream it passes), linked by events as trtexec does
    (bench/timing.py). None of the enqueue methods waits for the GPU, so the next iteration's
    copies overlap the current compute. Without a `stream` argument the copies go on the
    runner's own stream.

    Optional attributes the harness reads (bench/timing.py): `own_cuda_graph` (the runner
    replays its own CUDA graphs: not captured again), `outer_cuda_graph_refusal` (why the
    runtime cannot be captured from outside), `serialized_reason` (why its compute call
    waits for the GPU, so iterations never overlap).
    """

    @property
    def stream(self) -> int:
        """The runner's own CUDA stream, as the integer cudaStream_t handle."""
        ...

    def stage(self, feeds: Mapping[str, np.ndarray], *, device_resident: bool = False) -> None:
        """Copy `feeds` into pinned host buffers, set input shapes, and (when
        device_resident) upload them once so the timed loop has no host-to-device copies."""
        ...

    def enqueue_h2d(self, stream: int | None = None) -> None: ...

    def enqueue_compute(self) -> None: ...

    def enqueue_d2h(self, stream: int | None = None) -> None: ...

    def synchronize(self) -> None: ...

    def fetch_outputs(self) -> dict[str, np.ndarray]:
        """The host copies of the outputs of the last completed iteration."""
        ...
