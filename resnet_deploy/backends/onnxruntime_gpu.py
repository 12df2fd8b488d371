"""onnxruntime on the GPU: the CUDA and TensorRT execution providers (backends ort-cuda, ort-trt).

Builds on the CPU runner (session set-up, shape checks, I/O description) and changes what a
GPU needs:
- providers: the requested GPU provider first; if onnxruntime cannot start it (wrong package,
  no GPU, missing CUDA/TensorRT libraries) it silently falls back to the CPU, so the session's
  actual first provider is checked and a fallback is an exit-3 error, never a CPU timing
  reported as a GPU one;
- I/O binding: `infer` binds the host inputs (onnxruntime copies them on its own stream) and
  binds the outputs to GPU memory; `infer_device` keeps data on the GPU entirely;
- DeviceTimingHooks: onnxruntime computes on this runner's own CUDA stream
  (`user_compute_stream`), with copies from pinned buffers and without onnxruntime's
  end-of-run synchronization, so the harness times it like TensorRT;
- CUDA graphs: onnxruntime's own (`cuda_graph=True`: `enable_cuda_graph` for the CUDA EP,
  `trt_cuda_graph_enable` for the TensorRT EP), one graph per batch size (`gpu_graph_id`).
  An outer capture by the harness is refused (the registry row's outer_graph_refusal says why);
- ort-trt with a dynamic batch: the TensorRT profile (`trt_profile_min/opt/max_shapes`) covers
  the whole sweep (`expect_batch_sizes`), so the EP builds its engine once instead of again
  each time the sweep grows past the shapes it has seen.

Threads: `infer` is safe to call from many threads; the calls are serialized by a lock. Every
call runs on the runner's one CUDA stream, so the GPU would run them one after the other
anyway; the lock also keeps onnxruntime's TensorRT EP (one TensorRT context per session) and
the shared stream free of interleaving. Use one runner per thread for concurrent streams.

onnxruntime-gpu replaces onnxruntime (same module name): install exactly one of them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from resnet_deploy.backends.onnxruntime_runner import PROVIDERS, OnnxRuntimeRunner, _ort
from resnet_deploy.errors import InvalidInputError, MissingDependencyError
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.optional import install_hint

if TYPE_CHECKING:
    from resnet_deploy.backends.registry import BackendInfo
    from resnet_deploy.runtime.cuda import PinnedBuffer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _StagedInput:
    device: Any  # an OrtValue in GPU memory, bound as the input
    host: PinnedBuffer  # the batch, copied from here by enqueue_h2d
    nbytes: int


@dataclass(frozen=True)
class _StagedOutput:
    name: str
    device: Any  # an OrtValue in GPU memory, bound as the output
    host: PinnedBuffer  # where enqueue_d2h copies it
    dtype: np.dtype[Any]
    shape: tuple[int, ...]


@dataclass(frozen=True)
class _StagedBatch:
    """What stage() prepares for the device timing hooks: the I/O binding over fixed GPU
    buffers, the pinned host buffers on either side, the run options (graph id) and the pinned
    buffers to free when the next batch is staged or the runner deactivates."""

    binding: Any
    inputs: tuple[_StagedInput, ...]
    outputs: tuple[_StagedOutput, ...]
    run_options: Any
    resources: tuple[PinnedBuffer, ...]

def _backend_for(provider: str) -> BackendInfo:
    """The registry row of the GPU backend that runs onnxruntime with `provider`."""
    from resnet_deploy.backends.registry import BACKENDS, backend_for_provider

    row = backend_for_provider(provider)
    if row is None or not row.needs_gpu:
        choices = ", ".join(str(info.provider) for info in BACKENDS.values() if info.provider and info.needs_gpu)
        raise InvalidInputError(f"GPU provider must be one of {choices}, got {provider!r}", param="provider")
    return row


def _ort_dtype_name(dtype: np.dtype[Any]) -> Any:
    return np.dtype(dtype).type


def trt_profile_options(input_shapes: Mapping[str, Sequence[Any]], batches: Sequence[int]) -> dict[str, str]:
    """`trt_profile_min/opt/max_shapes` covering `batches` for inputs with a dynamic batch axis.

    opt follows the builder's rule (32, clamped into the range). Empty when an input has
    another dynamic axis (its sizes are unknown here) or a fixed batch axis.
    """
    from resnet_deploy.runtime.profiles import resolve_batch_range

    if not batches:
        return {}
    low, opt, high = resolve_batch_range(None, min(batches), None, max(batches))
    texts: dict[str, list[str]] = {"trt_profile_min_shapes": [], "trt_profile_opt_shapes": [],
                                   "trt_profile_max_shapes": []}
    for name, dims in input_shapes.items():
        rest = list(dims[1:])
        if not dims or isinstance(dims[0], int) or not all(isinstance(d, int) for d in rest):
            return {}
        for key, batch in (("trt_profile_min_shapes", low), ("trt_profile_opt_shapes", opt),
                           ("trt_profile_max_shapes", high)):
            texts[key].append(f"{name}:" + "x".join(str(d) for d in (batch, *rest)))
    return {key: ",".join(parts) for key, parts in texts.items()}


def _preload_cuda_libraries(ort: Any) -> None:
    """Let onnxruntime-gpu find the CUDA/cuDNN libraries that pip installed (nvidia-* packages):
    `onnxruntime.preload_dlls()` (onnxruntime >= 1.21), quietly; torch, when imported first,
    has already loaded them."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            preload()
    except Exception as exc:  # a missing library shows up as the provider failing to start
        log.info("onnxruntime.preload_dlls() failed: %s", exc)
    if printed.getvalue().strip():
        log.info("onnxruntime.preload_dlls(): %s", printed.getvalue().strip())


class OnnxRuntimeGpuRunner(OnnxRuntimeRunner):
    """onnxruntime with the CUDA or TensorRT execution provider on GPU `device_id`.

    `trt_cache_dir` (ort-trt): where the TensorRT provider keeps engines and timing caches
    between runs (default `<model>.ort-trt-cache/` beside the model), so only the first
    session pays TensorRT's build time. `cuda_graph`: onnxruntime's own CUDA graphs
    (enable_cuda_graph / trt_cuda_graph_enable). `profile_batches` (ort-trt): the batch sizes
    the TensorRT profile must cover (the harness passes its sweep through
    `expect_batch_sizes`); explicit `trt_profile_*` provider options win.
    """

    device = "cuda"

    def __init__(self, model_path: str | os.PathLike[str], *, provider: str = "cuda", device_id: int = 0,
                 threads: int | None = None, session_options: Any = None,
                 provider_options: dict[str, Any] | None = None, trt_cache_dir: str | os.PathLike[str] | None = None,
                 cuda_graph: bool = False, profile_batches: Sequence[int] | None = None) -> None:
        self.backend = _backend_for(provider)
        super().__init__(model_path, provider=provider, threads=threads, session_options=session_options,
                         provider_options=provider_options)
        self.name = self.backend.name
        self.device_id = device_id
        self.trt_cache_dir = Path(trt_cache_dir) if trt_cache_dir else Path(str(model_path) + ".ort-trt-cache")
        self.cuda_graph = cuda_graph
        self.profile_batches = list(profile_batches) if profile_batches else []
        self._stream: Any = None
        self._timing: _StagedBatch | None = None
        self._graph_ids: dict[tuple[int, ...], int] = {}  # input shape -> onnxruntime's gpu_graph_id
        self._lock = threading.Lock()

    @property
    def outer_cuda_graph_refusal(self) -> str | None:
        return self.backend.outer_graph_refusal

    @property
    def serialized_reason(self) -> str | None:
        return self.backend.serialized

    def expect_batch_sizes(self, batches: Sequence[int]) -> None:
        """The batch sizes the benchmark will run, told before activation (ort-trt's profile)."""
        if not self.profile_batches:
            self.profile_batches = sorted(set(int(b) for b in batches))

    # -- providers -------------------------------------------------------------------------
    def _providers(self) -> list[str | tuple[str, dict[str, Any]]]:
        ort = _ort()
        full = PROVIDERS[self.provider]
        available = ort.get_available_providers()
        if full not in available:
            raise MissingDependencyError(f"{self.name} needs onnxruntime's {full}, which this onnxruntime "
                                         f"({', '.join(available)}) lacks; {install_hint('gpu')}")
        from resnet_deploy.runtime.cuda import CudaStream

        _preload_cuda_libraries(ort)
        self._stream = CudaStream()  # onnxruntime computes on it (DeviceTimingHooks)
        cuda_options: dict[str, Any] = {"device_id": self.device_id, "user_compute_stream": str(self._stream.handle)}
        providers: list[str | tuple[str, dict[str, Any]]] = []
        if self.provider == "tensorrt":
            self.trt_cache_dir.mkdir(parents=True, exist_ok=True)
            trt_options: dict[str, Any] = {"device_id": self.device_id, "user_compute_stream": str(self._stream.handle),
                                           "trt_engine_cache_enable": True, "trt_timing_cache_enable": True,
                                           "trt_engine_cache_path": str(self.trt_cache_dir),
                                           "trt_timing_cache_path": str(self.trt_cache_dir)}
            if self.cuda_graph:
                trt_options["trt_cuda_graph_enable"] = True
            if not any(key.startswith("trt_profile_") for key in self.provider_options):
                trt_options.update(self._sweep_profile())
            trt_options.update(self.provider_options)
            providers.append((full, trt_options))
        else:
            if self.cuda_graph:
                cuda_options["enable_cuda_graph"] = True
            cuda_options.update(self.provider_options)
        providers += [("CUDAExecutionProvider", cuda_options), "CPUExecutionProvider"]
        return providers

    def _sweep_profile(self) -> dict[str, str]:
        """TensorRT profile options covering the expected batch sizes (empty without them)."""
        if not self.profile_batches:
            return {}
        from resnet_deploy.export.loader import load_onnx_model
        from resnet_deploy.runtime.profiles import onnx_input_shapes

        shapes = onnx_input_shapes(load_onnx_model(self.model_path, load_external_data=False, check=False))
        options = trt_profile_options(shapes, self.profile_batches)
        if options:
            log.info("%s: TensorRT profile for batches %s: %s", self.name, self.profile_batches, options)
        else:
            log.info("%s: no explicit TensorRT profile (fixed batch or other dynamic axes in %s)", self.name, shapes)
        return options

    def _activate(self) -> None:
        try:
            super()._activate()
            actual = self.session.get_providers()
            wanted = PROVIDERS[self.provider]
            if not actual or actual[0] != wanted:
                raise MissingDependencyError(f"{self.name}: onnxruntime could not start {wanted} (session runs on "
                                             f"{', '.join(actual)}): check the GPU, CUDA/cuDNN{' and TensorRT' if self.provider == 'tensorrt' else ''} "
                                             f"libraries; {install_hint('gpu')}")
        except BaseException:
            self._deactivate()
            raise

    def _deactivate(self) -> None:
        from resnet_deploy.runtime.cuda import close_all

        resources: list[Any] = list(self._timing.resources) if self._timing is not None else []
        stream, self._stream = self._stream, None
        self._timing = None
        super()._deactivate()  # drop the session before the stream it computes on
        if stream is not None:
            resources.insert(0, stream)
        close_all(resources)

    # -- inference with I/O binding ------------------------------------------------------
    def infer(self, feeds: Mapping[str, np.ndarray], output_names: list[str] | None = None) -> dict[str, np.ndarray]:
        """Host arrays in and out; safe from many threads (the calls are serialized).

        The inputs are bound as host arrays (onnxruntime copies them on its own stream, in
        order with the run), the outputs are bound to GPU memory and copied back after the
        run, which synchronizes (the default run options)."""
        self._require_active()
        self.check_feeds(feeds)
        with self._lock:
            binding = self.session.io_binding()
            for name, array in feeds.items():
                binding.bind_cpu_input(name, np.ascontiguousarray(array))
            names = output_names or [o.name for o in self._outputs]
            for name in names:
                binding.bind_output(name, "cuda", self.device_id)
            self.session.run_with_iobinding(binding, self._untimed_run_options())
            return dict(zip(names, binding.copy_outputs_to_cpu(), strict=True))

    def _untimed_run_options(self) -> Any:
        """With onnxruntime's CUDA graphs on, a run outside the timing hooks must neither capture
        nor replay a graph (its buffers are temporary): gpu_graph_id -1."""
        if not self.cuda_graph:
            return None
        options = _ort().RunOptions()
        options.add_run_config_entry("gpu_graph_id", "-1")
        return options

    def infer_device(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        """OrtValues on the GPU in, OrtValues on the GPU out: no host copies at all."""
        self._require_active()
        with self._lock:
            binding = self.session.io_binding()
            for name, value in feeds.items():
                binding.bind_ortvalue_input(name, value)
            for output in self._outputs:
                binding.bind_output(output.name, "cuda", self.device_id)
            self.session.run_with_iobinding(binding, self._untimed_run_options())
            return dict(zip([o.name for o in self._outputs], binding.get_outputs(), strict=True))

    def describe(self) -> JsonObject:
        info = super().describe()
        info.update({"device_id": self.device_id, "io_binding": True, "cuda_graph": self.cuda_graph})
        if self.provider == "tensorrt":
            info["trt_cache_dir"] = str(self.trt_cache_dir)
        return info

    # -- DeviceTimingHooks -----------------------------------------------------------------
    @property
    def stream(self) -> int:
        if self._stream is None:  # AttributeError keeps isinstance(runner, DeviceTimingHooks) from raising
            raise AttributeError(f"{self.name}: no CUDA stream before activate()")
        return int(self._stream.handle)

    def stage(self, feeds: Mapping[str, np.ndarray], *, device_resident: bool = False) -> None:
        """Pinned host buffers and preallocated GPU OrtValues for this batch, bound once."""
        from resnet_deploy.runtime import cuda as cu

        self._require_active()
        self.check_feeds(feeds)
        ort = _ort()
        cu.close_all(list(self._timing.resources) if self._timing is not None else [])
        resources: list[PinnedBuffer] = []
        binding = self.session.io_binding()
        inputs: list[_StagedInput] = []
        for name, array in feeds.items():
            array = np.ascontiguousarray(array)
            host = cu.PinnedBuffer(array.nbytes)
            resources.append(host)
            host.view(array.dtype, array.shape)[...] = array
            device = ort.OrtValue.ortvalue_from_shape_and_type(list(array.shape), _ort_dtype_name(array.dtype), "cuda",
                                                               self.device_id)
            binding.bind_ortvalue_input(name, device)
            inputs.append(_StagedInput(device, host, array.nbytes))
        # One synchronous run learns the output shapes; then outputs get fixed GPU buffers.
        probe = self.infer(feeds)
        outputs: list[_StagedOutput] = []
        for name, value in probe.items():
            device = ort.OrtValue.ortvalue_from_shape_and_type(list(value.shape), _ort_dtype_name(value.dtype), "cuda",
                                                               self.device_id)
            binding.bind_ortvalue_output(name, device)
            host = cu.PinnedBuffer(value.nbytes)
            resources.append(host)
            outputs.append(_StagedOutput(name, device, host, value.dtype, tuple(value.shape)))
        run_options = ort.RunOptions()
        # Return from run() once the work is enqueued on our stream; the harness synchronizes.
        run_options.add_run_config_entry("disable_synchronize_execution_providers", "1")
        if self.cuda_graph:  # onnxruntime captures one graph per id: one per batch size
            key = tuple(int(d) for array in feeds.values() for d in np.shape(array))
            graph_id = self._graph_ids.setdefault(key, len(self._graph_ids))
            run_options.add_run_config_entry("gpu_graph_id", str(graph_id))
        self._timing = _StagedBatch(binding, tuple(inputs), tuple(outputs), run_options, tuple(resources))
        if device_resident:
            self.enqueue_h2d()
            self.synchronize()

    def _staged(self) -> _StagedBatch:
        if self._timing is None or self._stream is None:
            raise RuntimeError(f"{self.name}: call stage() before the enqueue hooks")
        return self._timing

    def enqueue_h2d(self, stream: int | None = None) -> None:
        from resnet_deploy.runtime.cuda import memcpy_htod_async

        for staged in self._staged().inputs:
            memcpy_htod_async(staged.device.data_ptr(), staged.host.ptr, staged.nbytes,
                              self._stream if stream is None else stream)

    def enqueue_compute(self) -> None:
        staged = self._staged()
        self.session.run_with_iobinding(staged.binding, staged.run_options)

    def enqueue_d2h(self, stream: int | None = None) -> None:
        from resnet_deploy.runtime.cuda import memcpy_dtoh_async

        for output in self._staged().outputs:
            memcpy_dtoh_async(output.host.ptr, output.device.data_ptr(),
                              int(np.prod(output.shape)) * np.dtype(output.dtype).itemsize,
                              self._stream if stream is None else stream)

    def synchronize(self) -> None:
        if self._stream is None:
            raise RuntimeError(f"{self.name}: activate the runner first")
        self._stream.synchronize()

    def fetch_outputs(self) -> dict[str, np.ndarray]:
        return {output.name: output.host.view(output.dtype, output.shape).copy() for output in self._staged().outputs}

