"""onnxruntime on the GPU: the CUDA ("ort-cuda") and TensorRT ("ort-trt") execution providers.

Builds on the CPU runner (session set-up, shape checks, I/O description) and changes what a
GPU needs:
- providers: the requested GPU provider first; if onnxruntime cannot start it (wrong package,
  no GPU, missing CUDA/TensorRT libraries) it silently falls back to the CPU, so the session's
  actual first provider is checked and a fallback is an exit-3 error, never a CPU timing
  reported as a GPU one;
- I/O binding: inputs are copied to the GPU once and outputs are bound to GPU memory, so no
  intermediate host round trips (`infer_device` keeps data on the GPU entirely);
- DeviceTimingHooks: onnxruntime computes on this runner's own CUDA stream
  (`user_compute_stream`), with copies from pinned buffers on the same stream and without
  onnxruntime's end-of-run synchronization, so the harness times it like TensorRT.

onnxruntime-gpu replaces onnxruntime (same module name): install exactly one of them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from resnet_deploy.backends.onnxruntime_runner import PROVIDERS, OnnxRuntimeRunner, _ort
from resnet_deploy.errors import InvalidInputError, MissingDependencyError

GPU_PROVIDERS = {"cuda": "ort-cuda", "tensorrt": "ort-trt"}
_INSTALL = "pip install 'resnet-deploy[gpu]' (onnxruntime-gpu instead of onnxruntime: uninstall onnxruntime first, never both)"


def _ort_dtype_name(dtype: np.dtype[Any]) -> Any:
    return np.dtype(dtype).type


class OnnxRuntimeGpuRunner(OnnxRuntimeRunner):
    """onnxruntime with the CUDA or TensorRT execution provider on GPU `device_id`.

    `trt_cache_dir` (ort-trt): where the TensorRT provider keeps engines and timing caches
    between runs (default `<model>.ort-trt-cache/` beside the model), so only the first
    session pays TensorRT's build time.
    """

    device = "cuda"

    def __init__(self, model_path: str | os.PathLike[str], *, provider: str = "cuda", device_id: int = 0,
                 threads: int | None = None, session_options: Any = None,
                 provider_options: dict[str, Any] | None = None, trt_cache_dir: str | os.PathLike[str] | None = None) -> None:
        if provider not in GPU_PROVIDERS:
            raise InvalidInputError(f"GPU provider must be one of {', '.join(GPU_PROVIDERS)}, got {provider!r}")
        super().__init__(model_path, provider=provider, threads=threads, session_options=session_options,
                         provider_options=provider_options)
        self.name = GPU_PROVIDERS[provider]
        self.device_id = device_id
        self.trt_cache_dir = Path(trt_cache_dir) if trt_cache_dir else Path(str(model_path) + ".ort-trt-cache")
        self._stream: Any = None
        self._timing: dict[str, Any] = {}

    # -- providers -------------------------------------------------------------------------
    def _providers(self) -> list[str | tuple[str, dict[str, Any]]]:
        ort = _ort()
        full = PROVIDERS[self.provider]
        available = ort.get_available_providers()
        if full not in available:
            raise MissingDependencyError(f"{self.name} needs onnxruntime's {full}, which this onnxruntime "
                                         f"({', '.join(available)}) lacks; install it: {_INSTALL}")
        from resnet_deploy.backends.cuda_util import CudaStream

        self._stream = CudaStream()  # onnxruntime computes on it (DeviceTimingHooks)
        cuda_options: dict[str, Any] = {"device_id": self.device_id, "user_compute_stream": str(self._stream.handle)}
        providers: list[str | tuple[str, dict[str, Any]]] = []
        if self.provider == "tensorrt":
            self.trt_cache_dir.mkdir(parents=True, exist_ok=True)
            trt_options: dict[str, Any] = {"device_id": self.device_id, "user_compute_stream": str(self._stream.handle),
                                           "trt_engine_cache_enable": True, "trt_timing_cache_enable": True,
                                           "trt_engine_cache_path": str(self.trt_cache_dir),
                                           "trt_timing_cache_path": str(self.trt_cache_dir)}
            trt_options.update(self.provider_options)
            providers.append((full, trt_options))
        else:
            cuda_options.update(self.provider_options)
        providers += [("CUDAExecutionProvider", cuda_options), "CPUExecutionProvider"]
        return providers

    def _activate(self) -> None:
        try:
            super()._activate()
            actual = self.session.get_providers()
            wanted = PROVIDERS[self.provider]
            if not actual or actual[0] != wanted:
                raise MissingDependencyError(f"{self.name}: onnxruntime could not start {wanted} (session runs on "
                                             f"{', '.join(actual)}): check the GPU, CUDA/cuDNN{' and TensorRT' if self.provider == 'tensorrt' else ''} "
                                             f"libraries; install: {_INSTALL}")
        except BaseException:
            self._deactivate()
            raise

    def _deactivate(self) -> None:
        from resnet_deploy.backends.cuda_util import close_all

        resources = list(self._timing.get("resources", []))
        stream, self._stream = self._stream, None
        self._timing = {}
        super()._deactivate()  # drop the session before the stream it computes on
        if stream is not None:
            resources.insert(0, stream)
        close_all(resources)

    # -- inference with I/O binding ------------------------------------------------------
    def infer(self, feeds: Mapping[str, np.ndarray], output_names: list[str] | None = None) -> dict[str, np.ndarray]:
        """Host arrays in and out; inputs are copied to the GPU once and outputs bound there."""
        self._require_active()
        self.check_feeds(feeds)
        ort = _ort()
        binding = self.session.io_binding()
        for name, array in feeds.items():
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array), "cuda",
                                                                                self.device_id))
        names = output_names or [o.name for o in self._outputs]
        for name in names:
            binding.bind_output(name, "cuda", self.device_id)
        self.session.run_with_iobinding(binding)
        return dict(zip(names, binding.copy_outputs_to_cpu(), strict=True))

    def infer_device(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        """OrtValues on the GPU in, OrtValues on the GPU out: no host copies at all."""
        self._require_active()
        binding = self.session.io_binding()
        for name, value in feeds.items():
            binding.bind_ortvalue_input(name, value)
        for output in self._outputs:
            binding.bind_output(output.name, "cuda", self.device_id)
        self.session.run_with_iobinding(binding)
        return dict(zip([o.name for o in self._outputs], binding.get_outputs(), strict=True))

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update({"device_id": self.device_id, "io_binding": True})
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
        from resnet_deploy.backends import cuda_util as cu

        self._require_active()
        self.check_feeds(feeds)
        ort = _ort()
        cu.close_all(list(self._timing.get("resources", [])))
        resources: list[Any] = []
        binding = self.session.io_binding()
        inputs: list[tuple[Any, Any, int]] = []
        for name, array in feeds.items():
            array = np.ascontiguousarray(array)
            host = cu.PinnedBuffer(array.nbytes)
            resources.append(host)
            host.view(array.dtype, array.shape)[...] = array
            device = ort.OrtValue.ortvalue_from_shape_and_type(list(array.shape), _ort_dtype_name(array.dtype), "cuda",
                                                               self.device_id)
            binding.bind_ortvalue_input(name, device)
            inputs.append((device, host, array.nbytes))
        # One synchronous run learns the output shapes; then outputs get fixed GPU buffers.
        probe = self.infer(feeds)
        outputs: list[tuple[str, Any, Any, np.dtype[Any], tuple[int, ...]]] = []
        for name, value in probe.items():
            device = ort.OrtValue.ortvalue_from_shape_and_type(list(value.shape), _ort_dtype_name(value.dtype), "cuda",
                                                               self.device_id)
            binding.bind_ortvalue_output(name, device)
            host = cu.PinnedBuffer(value.nbytes)
            resources.append(host)
            outputs.append((name, device, host, value.dtype, tuple(value.shape)))
        run_options = ort.RunOptions()
        # Return from run() once the work is enqueued on our stream; the harness synchronizes.
        run_options.add_run_config_entry("disable_synchronize_execution_providers", "1")
        self._timing = {"binding": binding, "inputs": inputs, "outputs": outputs, "run_options": run_options,
                        "resources": resources}
        if device_resident:
            self.enqueue_h2d()
            self.synchronize()

    def _staged(self) -> dict[str, Any]:
        if not self._timing or self._stream is None:
            raise InvalidInputError(f"{self.name}: call stage() before the enqueue hooks")
        return self._timing

    def enqueue_h2d(self) -> None:
        from resnet_deploy.backends.cuda_util import memcpy_htod_async

        for device, host, nbytes in self._staged()["inputs"]:
            memcpy_htod_async(device.data_ptr(), host.ptr, nbytes, self._stream)

    def enqueue_compute(self) -> None:
        staged = self._staged()
        self.session.run_with_iobinding(staged["binding"], staged["run_options"])

    def enqueue_d2h(self) -> None:
        from resnet_deploy.backends.cuda_util import memcpy_dtoh_async

        for _, device, host, dtype, shape in self._staged()["outputs"]:
            memcpy_dtoh_async(host.ptr, device.data_ptr(), int(np.prod(shape)) * np.dtype(dtype).itemsize, self._stream)

    def synchronize(self) -> None:
        if self._stream is None:
            raise InvalidInputError(f"{self.name}: activate the runner first")
        self._stream.synchronize()

    def fetch_outputs(self) -> dict[str, np.ndarray]:
        return {name: host.view(dtype, shape).copy() for name, _, host, dtype, shape in self._staged()["outputs"]}


# The harness looks up OnnxRuntimeGpuRunner (and this alias) in this module.
OnnxRuntimeCudaRunner = OnnxRuntimeGpuRunner
