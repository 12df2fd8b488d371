"""Run a plan from Python: `Engine.load(path)`, `engine(batch) -> logits`, `engine.infer_async`.

    engine = Engine.load("r50_fp16.plan", contexts=2)   # sidecar checked before deserializing
    logits = engine(images)                             # numpy in, numpy out (or torch CUDA in/out)
    request = engine.infer_async({"input": images})     # returns at once
    logits = request.wait()["logits"]
    engine.close()

Design (what NVIDIA's samples leave to the reader):
- The sidecar is checked against the installed TensorRT and the present GPU before
  deserializing: a mismatch is one line (exit 2), not a deserialization crash.
- Each execution context lives in a slot with its own CUDA stream, preallocated device
  buffers sized for the profile's maximum shapes, pinned host buffers, and (optionally) one
  captured CUDA graph per batch size. Buffers are named by tensor, never by position.
- Thread safety: slots sit in a pool; a call checks one out (`with engine.checkout() as
  slot:` is the public form), so N threads run N batches at once on N streams (contexts=N).
  A context is never used by two threads at once (TensorRT's IExecutionContext is not
  thread-safe); a thread that finds every slot busy waits for one.
- torch CUDA tensors are used in place (zero copy): their data pointers become the I/O
  addresses; the slot's stream is ordered after and before torch's current stream.
- close() (also via `with`) refuses new work, waits until no thread is using a slot,
  synchronizes every slot's stream (requests still in flight finish first), then frees
  everything, even when one free fails.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from resnet_deploy.errors import ArtifactError, CheckFailedError, InvalidInputError
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.optional import require_tensorrt
from resnet_deploy.runtime.plan_meta import PlanSidecar, load_plan_meta, require_compatible
from resnet_deploy.runtime.trt import TRT_DTYPE_NAMES, CapturingLogger, dims_list, last_error, trt
from resnet_deploy.tensor_info import TensorInfo

if TYPE_CHECKING:
    import torch

    from resnet_deploy.runtime.cuda import DeviceBuffer, PinnedBuffer

log = logging.getLogger(__name__)


def _numpy_dtype(dtype: trt.DataType) -> np.dtype[Any]:
    name = TRT_DTYPE_NAMES.get(getattr(dtype, "name", str(dtype)).split(".")[-1], "")
    try:
        return np.dtype(name)
    except TypeError:
        raise InvalidInputError(f"tensor type {dtype} has no numpy equivalent; pass torch CUDA tensors instead") from None


def _volume(shape: tuple[int, ...] | list[int]) -> int:
    return int(np.prod(shape)) if len(shape) else 1


class ExecutionSlot:
    """One execution context + its stream, buffers and CUDA graphs; used by one thread at a time.

    Get one with `Engine.checkout()`; the engine owns and frees it. Its steps (`stage`,
    `enqueue_h2d`, `enqueue_compute`, `enqueue_d2h`, `fetch`) are what the TensorRT runner's
    device timing hooks call; `run` and `run_torch` do a whole batch.
    """

    def __init__(self, engine: Engine, index: int) -> None:
        from resnet_deploy.runtime import cuda as cu

        self._cu = cu
        self.engine = engine
        self.index = index
        self._resources: list[Any] = []
        self.context: trt.IExecutionContext | None = None
        try:
            self.stream = cu.CudaStream()
            self._resources.append(self.stream)
            context = engine.trt_engine.create_execution_context()
            if context is None:
                raise CheckFailedError(f"TensorRT could not create execution context {index}: {last_error(engine.logger)}")
            self.context = context
            try:  # the bindings raise RuntimeError when TensorRT refuses (they never return False)
                context.set_optimization_profile_async(0, self.stream.handle)
            except RuntimeError as exc:
                raise CheckFailedError(f"TensorRT refused optimization profile 0 for execution context {index} of "
                                       f"'{engine.path.name}': {last_error(engine.logger)} ({exc})") from exc
            self.stream.synchronize()
            # Size every buffer for the profile's largest shapes, once.
            for info in engine.inputs:
                context.set_input_shape(info.name, tuple(engine.profile[info.name][2]))
            self.device: dict[str, DeviceBuffer] = {}  # by tensor name, sized for the profile's largest shapes
            self.host: dict[str, PinnedBuffer] = {}
            for info in [*engine.inputs, *engine.outputs]:
                nbytes = _volume(dims_list(context.get_tensor_shape(info.name))) * info.dtype.itemsize
                self.device[info.name] = cu.DeviceBuffer(nbytes)
                self._resources.append(self.device[info.name])
                self.host[info.name] = cu.PinnedBuffer(nbytes)
                self._resources.append(self.host[info.name])
                self._set_address(info.name, self.device[info.name].ptr)
        except BaseException:
            self.close()
            raise
        self.graphs: dict[tuple[tuple[int, ...], ...], Any] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.shape_changed = False
        self.output_shapes: dict[str, tuple[int, ...]] = {}

    # -- the steps, also used by TensorRTRunner's DeviceTimingHooks ------------------------
    def stage(self, feeds: Mapping[str, np.ndarray]) -> None:
        """Copy host arrays into the pinned input buffers and set the input shapes."""
        assert self.context is not None
        self.engine.check_feeds(feeds)
        for info in self.engine.inputs:
            array = np.ascontiguousarray(feeds[info.name])
            self.host[info.name].view(info.dtype, array.shape)[...] = array
            self._set_shape(info.name, tuple(array.shape))
        self._update_output_shapes()

    def input_views(self, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
        """Set the input shapes and return writable views of the pinned input buffers, for a
        caller that writes its batch straight into them (no staging copy: NVIDIA's MLPerf
        harness gathers samples into the pinned buffer this way)."""
        self.engine.check_shapes(shapes)
        for name, shape in shapes.items():
            self._set_shape(name, tuple(shape))
        self._update_output_shapes()
        return {info.name: self.host[info.name].view(info.dtype, self.shapes[info.name]) for info in self.engine.inputs}

    def _set_shape(self, name: str, shape: tuple[int, ...]) -> None:
        assert self.context is not None
        if self.shapes.get(name) != shape:
            if not self.context.set_input_shape(name, shape):
                low, _, high = self.engine.profile[name]
                raise InvalidInputError(f"input '{name}' shape {shape} is outside the plan's profile {low}..{high}")
            self.shapes[name] = shape
            self.shape_changed = True

    def warm_up(self) -> None:
        """One untimed run after a shape change: TensorRT does its shape-dependent setup in the
        first enqueue, which must not land inside a timed loop or a CUDA graph capture."""
        if self.shape_changed:
            self._execute()
            self.stream.synchronize()
            self.shape_changed = False

    def _update_output_shapes(self) -> None:
        assert self.context is not None
        self.output_shapes = {info.name: tuple(dims_list(self.context.get_tensor_shape(info.name)))
                              for info in self.engine.outputs}

    def enqueue_h2d(self, stream: int | None = None) -> None:
        """Copy the staged inputs to the device on `stream` (default: the slot's own stream;
        the benchmark passes its input stream, as trtexec does)."""
        for info in self.engine.inputs:
            nbytes = _volume(self.shapes[info.name]) * info.dtype.itemsize
            self._cu.memcpy_htod_async(self.device[info.name].ptr, self.host[info.name].ptr, nbytes,
                                       self.stream if stream is None else stream)

    def enqueue_compute(self) -> None:
        assert self.context is not None
        if self.engine.cuda_graphs:
            key = tuple(self.shapes[i.name] for i in self.engine.inputs)
            graph = self.graphs.get(key)
            if graph is None:
                self.shape_changed = True
                self.warm_up()  # TensorRT finishes shape-dependent setup outside the capture
                graph = self._cu.CudaGraph(self.stream, self._execute)
                self.graphs[key] = graph
                self._resources.append(graph)
                log.info("captured a CUDA graph for shapes %s", key)
            graph.launch(self.stream)
        else:
            self._execute()

    def _execute(self) -> None:
        assert self.context is not None
        if not self.context.execute_async_v3(self.stream.handle):
            raise CheckFailedError(f"TensorRT execute_async_v3 failed: {last_error(self.engine.logger)}")

    def enqueue_d2h(self, stream: int | None = None) -> None:
        """Copy the outputs to the pinned host buffers on `stream` (default: the slot's own)."""
        for info in self.engine.outputs:
            nbytes = _volume(self.output_shapes[info.name]) * info.dtype.itemsize
            self._cu.memcpy_dtoh_async(self.host[info.name].ptr, self.device[info.name].ptr, nbytes,
                                       self.stream if stream is None else stream)

    def fetch(self) -> dict[str, np.ndarray]:
        """Copies of the host outputs (call after the stream finished)."""
        return {info.name: self.host[info.name].view(info.dtype, self.output_shapes[info.name]).copy()
                for info in self.engine.outputs}

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.stage(feeds)
        self.enqueue_h2d()
        self.enqueue_compute()
        self.enqueue_d2h()
        self.stream.synchronize()
        return self.fetch()

    def run_torch(self, feeds: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Zero copy: the caller's CUDA tensors are the I/O buffers.

        The work runs on this slot's stream, ordered after the caller's current stream (so the
        inputs are ready) and before it (so the outputs are ready for whatever the caller does
        next); the context's next use is on the same slot stream, so it never overlaps.
        """
        import torch

        assert self.context is not None
        tensors = {name: t.contiguous() for name, t in feeds.items()}
        self.engine.check_shapes({name: tuple(t.shape) for name, t in tensors.items()})
        for info in self.engine.inputs:
            tensor = tensors[info.name]
            if tensor.device.type != "cuda" or tensor.dtype != _torch_dtype(info.dtype):
                raise InvalidInputError(f"input '{info.name}' must be a CUDA {info.dtype} tensor, got {tensor.dtype} on {tensor.device}")
        device = next(iter(tensors.values())).device
        caller = torch.cuda.current_stream(device)
        own = torch.cuda.ExternalStream(self.stream.handle, device=device)
        outputs: dict[str, torch.Tensor] = {}
        try:
            for info in self.engine.inputs:
                self._set_shape(info.name, tuple(tensors[info.name].shape))
                self._set_address(info.name, int(tensors[info.name].data_ptr()))
            self._update_output_shapes()
            outputs = {info.name: torch.empty(self.output_shapes[info.name], dtype=_torch_dtype(info.dtype), device=device)
                       for info in self.engine.outputs}
            for name, tensor in outputs.items():
                self._set_address(name, int(tensor.data_ptr()))
            own.wait_stream(caller)
            if not self.context.execute_async_v3(self.stream.handle):
                raise CheckFailedError(f"TensorRT execute_async_v3 failed: {last_error(self.engine.logger)}")
            for tensor in [*tensors.values(), *outputs.values()]:
                tensor.record_stream(own)  # the allocator must not reuse them before the slot stream is done
            caller.wait_stream(own)
        finally:
            for info in [*self.engine.inputs, *self.engine.outputs]:  # back to the slot's own buffers
                self._set_address(info.name, self.device[info.name].ptr)
        return outputs

    def _set_address(self, name: str, address: int) -> None:
        assert self.context is not None
        if not self.context.set_tensor_address(name, address):
            raise CheckFailedError(f"TensorRT refused address {address:#x} for tensor '{name}' (misaligned or null): "
                                   f"{last_error(self.engine.logger)}")

    def close(self) -> None:
        """Wait for the stream's work (an enqueued batch may still read these buffers), then
        free the graphs, buffers, context and stream, even when one step fails."""
        first: BaseException | None = None
        stream = getattr(self, "stream", None)
        if stream is not None and stream.raw is not None:
            try:
                stream.synchronize()
            except BaseException as exc:  # still free what can be freed
                log.error("synchronizing execution slot %d failed: %s", self.index, exc)
                first = exc
        self.graphs = {}
        self.context = None  # TensorRT frees a context when its last reference goes
        resources, self._resources = self._resources, []
        try:
            self._cu.close_all(resources)
        except BaseException as exc:
            first = first or exc
        if first is not None:
            raise first


def _torch_dtype(dtype: np.dtype[Any]) -> Any:
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "int8": torch.int8, "int32": torch.int32,
            "int64": torch.int64, "bool": torch.bool, "uint8": torch.uint8}[np.dtype(dtype).name]


class InferRequest:
    """An inference in flight on one slot's stream; `wait()` returns the outputs and frees the slot."""

    def __init__(self, engine: Engine, slot: ExecutionSlot) -> None:
        self._engine = engine
        self._slot: ExecutionSlot | None = slot
        self._result: dict[str, np.ndarray] | None = None

    def done(self) -> bool:
        if self._slot is None:
            return True
        from resnet_deploy.runtime.cuda import cudart

        err = cudart().cudaStreamQuery(self._slot.stream.raw)
        code = int(getattr(err[0] if isinstance(err, tuple) else err, "value", 0) or 0)
        return code == 0

    def wait(self) -> dict[str, np.ndarray]:
        """The outputs (host arrays), once the GPU finished. RuntimeError when the engine was
        closed first: close() waited for the batch, but its outputs went with the buffers."""
        if self._slot is not None:
            slot, self._slot = self._slot, None
            self._engine._claim_pending(slot)
            try:
                slot.stream.synchronize()
                self._result = slot.fetch()
            finally:
                self._engine._give_back(slot)
        assert self._result is not None
        return self._result


class Engine:
    """A loaded plan with a pool of execution contexts. Use Engine.load()."""

    def __init__(self, path: Path, meta: PlanSidecar, runtime: trt.Runtime, trt_engine: trt.ICudaEngine,
                 logger: trt.ILogger, *, contexts: int, cuda_graphs: bool, device: int, warnings: tuple[str, ...]) -> None:
        self.path = path
        self.meta = meta
        self.runtime = runtime
        self.trt_engine = trt_engine
        self.logger = logger
        self.cuda_graphs = cuda_graphs
        self.device = device
        self.warnings = warnings
        self.inputs: list[TensorInfo] = []
        self.outputs: list[TensorInfo] = []
        self.profile: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {}
        for index in range(trt_engine.num_io_tensors):
            name = trt_engine.get_tensor_name(index)
            shape = tuple(d if d >= 0 else None for d in dims_list(trt_engine.get_tensor_shape(name)))
            info = TensorInfo(name, shape, _numpy_dtype(trt_engine.get_tensor_dtype(name)))
            if trt_engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                self.inputs.append(info)
                low, opt, high = trt_engine.get_tensor_profile_shape(name, 0)
                self.profile[name] = (tuple(dims_list(low)), tuple(dims_list(opt)), tuple(dims_list(high)))
            else:
                self.outputs.append(info)
        self._cond = threading.Condition()
        self._slots: list[ExecutionSlot] = []
        self._free: list[ExecutionSlot] = []
        self._users: dict[ExecutionSlot, int] = {}  # slot -> thread using it on the host
        self._pending: set[ExecutionSlot] = set()  # slots whose batch an InferRequest still owns
        self._closed = False
        try:
            for index in range(contexts):
                slot = ExecutionSlot(self, index)
                self._slots.append(slot)
                self._free.append(slot)
        except BaseException:
            self.close()
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, contexts: int = 1, cuda_graphs: bool = False,
             device: int = 0) -> Engine:
        """Check the plan and its sidecar, then TensorRT and the GPU, then deserialize.

        Exit 2 (ArtifactError): missing/corrupt plan or sidecar, a plan built for another
        TensorRT version or GPU. Exit 3: TensorRT, cuda-python or a GPU missing.
        """
        if contexts < 1:
            raise InvalidInputError(f"contexts must be at least 1, got {contexts}")
        path = Path(path)
        meta = load_plan_meta(path)
        trt_module = require_tensorrt("running a TensorRT plan")
        from resnet_deploy.runtime.cuda import cuda_call, cudart, gpu_properties

        gpu = gpu_properties(device)
        warnings = require_compatible(meta, path, tensorrt_version=str(trt_module.__version__), gpu_name=gpu.name,
                                      gpu_cc=gpu.compute_capability)
        for warning in warnings:
            log.warning("%s: %s", path, warning)
        cuda_call(cudart().cudaSetDevice(device), "cudaSetDevice")
        logger = CapturingLogger()
        runtime = trt.Runtime(logger)
        if meta.version_compatible:
            runtime.engine_host_code_allowed = True  # needed for the lean runtime such plans embed
        trt_engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if trt_engine is None:
            raise ArtifactError(f"TensorRT could not deserialize plan '{path}': {last_error(logger)}")
        return cls(path, meta, runtime, trt_engine, logger, contexts=contexts, cuda_graphs=cuda_graphs, device=device,
                   warnings=warnings)

    # -- checks ----------------------------------------------------------------------------
    def batch_limits(self) -> tuple[int, int]:
        low, _, high = self.profile[self.inputs[0].name]
        return (low[0], high[0])

    def check_shapes(self, shapes: Mapping[str, tuple[int, ...]]) -> int:
        """Refuse wrong names and shapes outside the profile (exit 2, with the range). Returns the batch."""
        expected = [i.name for i in self.inputs]
        if sorted(shapes) != sorted(expected):
            raise InvalidInputError(f"plan '{self.path.name}' takes inputs {expected}, got {sorted(shapes)}")
        batch = 0
        for name, shape in shapes.items():
            low, _, high = self.profile[name]
            if len(shape) != len(low):
                raise InvalidInputError(f"input '{name}' must have {len(low)} dimensions, got shape {shape}")
            if not all(lo <= s <= hi for lo, s, hi in zip(low, shape, high, strict=True)):
                if shape[1:] == low[1:] == high[1:]:
                    raise InvalidInputError(f"batch {shape[0]} is outside the plan's profile: it accepts batch "
                                            f"{low[0]}..{high[0]}; rebuild it with a batch range that covers it")
                raise InvalidInputError(f"input '{name}' shape {shape} is outside the plan's profile {low}..{high}")
            batch = shape[0]
        return batch

    def check_feeds(self, feeds: Mapping[str, np.ndarray]) -> int:
        for info in self.inputs:
            array = feeds.get(info.name)
            if array is not None and np.asarray(array).dtype != info.dtype:
                raise InvalidInputError(f"input '{info.name}' must be {info.dtype}, got {np.asarray(array).dtype}")
        return self.check_shapes({name: tuple(np.shape(array)) for name, array in feeds.items()})

    # -- the slot pool ---------------------------------------------------------------------
    @contextlib.contextmanager
    def checkout(self) -> Iterator[ExecutionSlot]:
        """Check out a free execution slot for the `with` block; waits while every slot is busy.

        The slot (its context, stream and buffers) is this thread's alone until the block ends.
        RuntimeError once the engine is closed.
        """
        slot = self._take()
        try:
            yield slot
        finally:
            self._give_back(slot)

    def _take(self) -> ExecutionSlot:
        with self._cond:
            while not self._free and not self._closed:
                self._cond.wait()
            if self._closed:
                raise RuntimeError(f"engine '{self.path.name}' is closed")
            slot = self._free.pop()
            self._users[slot] = threading.get_ident()
        if self.device != 0:  # the CUDA runtime's current device is per thread
            from resnet_deploy.runtime.cuda import cuda_call, cudart

            cuda_call(cudart().cudaSetDevice(self.device), "cudaSetDevice")
        return slot

    def _give_back(self, slot: ExecutionSlot) -> None:
        with self._cond:
            self._users.pop(slot, None)
            self._pending.discard(slot)
            if not self._closed:
                self._free.append(slot)
            self._cond.notify_all()

    def _hand_to_request(self, slot: ExecutionSlot) -> None:
        """The enqueuing thread is done with `slot`; an InferRequest owns it until wait()."""
        with self._cond:
            self._users.pop(slot, None)
            self._pending.add(slot)
            self._cond.notify_all()

    def _claim_pending(self, slot: ExecutionSlot) -> None:
        """InferRequest.wait() takes its slot back; RuntimeError when close() got there first."""
        with self._cond:
            if self._closed:
                self._pending.discard(slot)
                raise RuntimeError(f"engine '{self.path.name}' was closed before this request was waited for; "
                                   "its outputs are gone")
            self._pending.discard(slot)
            self._users[slot] = threading.get_ident()

    # -- running ---------------------------------------------------------------------------
    def infer(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        """Run one batch: numpy arrays in -> numpy arrays out; torch CUDA tensors in -> out.
        Safe from many threads (each call checks out its own slot)."""
        with self.checkout() as slot:
            if feeds and _is_torch_cuda(next(iter(feeds.values()))):
                return slot.run_torch(feeds)
            return slot.run(feeds)

    def __call__(self, batch: Any) -> Any:
        """`engine(images) -> logits` for single-input models (a dict for several outputs is
        `engine.infer`); also accepts a mapping and returns the first output."""
        feeds = batch if isinstance(batch, Mapping) else {self.inputs[0].name: batch}
        return self.infer(feeds)[self.outputs[0].name]

    def infer_async(self, feeds: Mapping[str, np.ndarray]) -> InferRequest:
        """Enqueue one batch (host arrays) on a free slot's stream and return at once; blocks
        only when every context is busy. `request.wait()` gives the outputs."""
        slot = self._take()
        try:
            slot.stage(feeds)
            slot.enqueue_h2d()
            slot.enqueue_compute()
            slot.enqueue_d2h()
        except BaseException:
            self._give_back(slot)
            raise
        self._hand_to_request(slot)
        return InferRequest(self, slot)

    def describe(self) -> JsonObject:
        return {"plan": str(self.path), "tensorrt_version": self.meta.tensorrt_version,
                "precision": self.meta.precision, "gpu": self.meta.gpu.model_dump(), "contexts": len(self._slots),
                "cuda_graphs": self.cuda_graphs, "batch_limits": list(self.batch_limits()),
                "warnings": list(self.warnings)}

    def close(self) -> None:
        """Refuse new work, wait until no thread is using a slot, then free every slot (each
        synchronizes its stream first, so batches still in flight finish before their buffers
        go), then the engine. Requests not yet waited for raise RuntimeError in wait()."""
        with self._cond:
            if self._closed:
                return
            mine = [slot.index for slot, user in self._users.items() if user == threading.get_ident()]
            if mine:
                raise RuntimeError(f"engine '{self.path.name}': close() called by a thread that holds execution "
                                   f"slot(s) {mine}; leave the checkout() block first")
            self._closed = True
            self._cond.notify_all()  # threads waiting for a slot give up
            while self._users:
                self._cond.wait()
            slots, self._slots, self._free = self._slots, [], []
        try:
            from resnet_deploy.runtime.cuda import close_all

            close_all(list(slots))
        finally:
            self.trt_engine = None  # type: ignore[assignment]
            self.runtime = None  # type: ignore[assignment]

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_torch_cuda(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and getattr(getattr(value, "device", None), "type", "") == "cuda"
