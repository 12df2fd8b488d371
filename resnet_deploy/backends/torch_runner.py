"""PyTorch runner: the baseline the exported artifacts are compared and timed against.

One runner covers the ways people run a ResNet in PyTorch for inference: eager, channels_last
memory format, autocast (fp16/bf16), a captured CUDA graph per batch size ("torch-cudagraph")
and torch.compile ("torch-compile"). It is built from a registry name (random weights: for
timing) or a checkpoint (trained weights: for accuracy).

On CUDA it implements DeviceTimingHooks on its own torch.cuda.Stream, so the benchmark harness
times it with CUDA events exactly as it times TensorRT and onnxruntime's GPU providers.
`stage()` runs warm-up forwards on that stream for each new batch size (cuBLAS/cuDNN set
themselves up lazily, and torch.compile compiles, on the first call: none of that may happen
inside a timed loop or a CUDA graph capture). torch-cudagraph replays its own graphs, so the
harness does not capture it again (`own_cuda_graph`).

Threads: on CPU, `infer` runs the module directly and is safe from many threads. On CUDA,
`infer` goes through the runner's staging buffers and its one stream, so the calls are
serialized by a lock (the GPU would run them one after the other on that stream anyway).
"""

from __future__ import annotations

import copy
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from resnet_deploy.backends.base import Runner, TensorInfo
from resnet_deploy.errors import InvalidInputError, MissingDependencyError
from resnet_deploy.input_spec import InputSpec, default_input_spec
from resnet_deploy.jsontypes import JsonObject

log = logging.getLogger(__name__)

INPUT_NAME = "input"  # the same names the ONNX export uses, so outputs compare by name
OUTPUT_NAME = "logits"

MODES = ("eager", "compile", "cudagraph")
PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
_BACKEND_FOR_MODE = {"eager": "torch", "compile": "torch-compile", "cudagraph": "torch-cudagraph"}


def _resolve_source(source: str | os.PathLike[str] | nn.Module, input_size: int | tuple[int, int] | None,
                    num_classes: int | None, in_channels: int | None) -> tuple[nn.Module, str, InputSpec]:
    """(model, model name, input spec) from a registry name (the seeded untrained network the
    exporter uses too), a checkpoint path or a module."""
    from resnet_deploy.model_source import load_model_source

    if isinstance(source, nn.Module):
        if input_size is None:
            raise InvalidInputError("a TorchRunner built from an nn.Module needs `input_size` (H, W)", param="input_size")
        height, width = _size(input_size)
        spec = default_input_spec(in_channels or 3, height, num_classes or 1000).with_size(height, width)
        return source, type(source).__name__, spec
    text = os.fspath(source)
    path = Path(text)
    if path.suffix in (".safetensors", ".pth", ".pt") or path.exists():
        loaded = load_model_source(checkpoint=path, num_classes=num_classes, in_channels=in_channels)
    else:
        loaded = load_model_source(model=text, num_classes=num_classes, in_channels=in_channels)
    recorded = loaded.input_spec
    assert recorded is not None and loaded.artifact.architecture is not None
    spec = recorded
    if input_size is not None:
        spec = spec.with_size(*_size(input_size))
    return loaded.model, loaded.artifact.architecture, spec


def _size(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    height, width = (int(v) for v in value)
    return (height, width)


def _device(text: str) -> torch.device:
    try:
        device = torch.device(text)
    except RuntimeError as exc:
        raise InvalidInputError(f"unknown torch device {text!r}: use cpu or cuda[:N]") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise MissingDependencyError(f"torch device {text!r} needs CUDA, which this torch build or machine lacks "
                                     f"(torch {torch.__version__}); use `device` cpu or a CUDA build of torch")
    if device.type not in ("cpu", "cuda"):
        raise InvalidInputError(f"torch device {text!r} is not supported: use cpu or cuda[:N]")
    return device


def _bf16_native(device: torch.device) -> bool:
    """Whether BF16 autocast computes natively here (a CPU with avx512_bf16/AMX, a GPU of
    compute capability 8.0 or later); warns once where it is emulated (slower than FP32)."""
    if device.type == "cuda":
        native = bool(torch.cuda.is_bf16_supported(including_emulation=False))
        if not native:
            log.warning("torch: %s has no native BF16 (compute capability below 8.0): autocast emulates it", device)
        return native
    from resnet_deploy import cpu_isa

    return cpu_isa.warn_if_no_bf16("torch") is None


class TorchRunner(Runner):
    """Runs a ResNet in PyTorch.

    `mode`: eager, compile (torch.compile) or cudagraph (one captured graph per batch size,
    CUDA only). `precision`: fp32, or fp16/bf16 (fp16 needs CUDA): autocast on CUDA; on the
    CPU, bf16 stores the weights in BF16 once (autocast there casts every weight and oneDNN
    reorders it for AMX on every call, which cost about what BF16 saves). `channels_last`
    converts weights and inputs to NHWC memory format. `backend` may name the BACKENDS entry
    instead of `mode` (the benchmark harness passes both).

    Thread-safe: an eager forward on the CPU under inference_mode shares nothing between
    calls, so concurrent calls run in parallel. Compiled models and CUDA runs (one stream,
    staged buffers, captured graphs) are serialized by a lock.
    """

    def __init__(self, source: str | os.PathLike[str] | nn.Module, *, mode: str = "eager", backend: str | None = None,
                 device: str = "cpu", precision: str = "fp32", channels_last: bool = False, threads: int | None = None,
                 input_size: int | tuple[int, int] | None = None, num_classes: int | None = None,
                 in_channels: int | None = None, compile_mode: str | None = None, features: bool = False) -> None:
        super().__init__()
        if backend is not None:
            by_backend = {v: k for k, v in _BACKEND_FOR_MODE.items()}
            if backend not in by_backend:
                raise InvalidInputError(f"TorchRunner: backend {backend!r} is not a torch backend; "
                                        f"valid: {', '.join(by_backend)}")
            mode = by_backend[backend] if mode == "eager" else mode
        if mode not in MODES:
            raise InvalidInputError(f"torch mode {mode!r} is not one of {', '.join(MODES)}")
        if precision not in PRECISIONS:
            raise InvalidInputError(f"torch precision {precision!r} is not one of {', '.join(PRECISIONS)}")
        if threads is not None and threads < 1:
            raise InvalidInputError(f"threads must be a positive integer, got {threads}")
        self.mode = mode
        self.name = _BACKEND_FOR_MODE[mode]
        self.torch_device = _device(device)
        self.device = self.torch_device.type
        if mode == "cudagraph" and self.device != "cuda":
            raise MissingDependencyError("torch-cudagraph needs a CUDA device (`device` cuda); CUDA graphs do not exist on CPU")
        if precision == "fp16" and self.device != "cuda":
            raise InvalidInputError("fp16 autocast needs `device` cuda; on CPU use bf16 or fp32", param="precision")
        if features and (self.device == "cuda" or mode != "eager"):
            raise InvalidInputError("`features` (the stage outputs of a backbone) runs eager on the CPU only",
                                    param="features")
        self.features = features
        self._output_names = [OUTPUT_NAME]
        self.precision = precision
        self.channels_last = channels_last
        self.threads = threads
        self.compile_mode = compile_mode
        self._source = source
        self._source_args = (input_size, num_classes, in_channels)
        self.model_name = ""
        self.input_spec: InputSpec | None = None
        self._model: Any = None
        self._num_classes = 0
        # CUDA state (DeviceTimingHooks)
        self._stream: Any = None
        self._graphs: dict[int, tuple[Any, Any, Any]] = {}  # batch -> (graph, static input, static output)
        self._host_in: Any = None
        self._host_out: Any = None
        self._dev_in: Any = None
        self._dev_out: Any = None
        self._warm_batches: set[int] = set()  # batch sizes already run once on the stream
        self._external: dict[int, Any] = {}  # stream handle -> torch.cuda.ExternalStream
        self._lock = threading.Lock()
        self._bf16_native: bool | None = None
        self._weights_dtype: torch.dtype | None = None  # CPU bf16: weights and inputs in BF16, no autocast

    @property
    def own_cuda_graph(self) -> bool:
        """torch-cudagraph replays its own graph per batch size: never captured again from outside."""
        return self.mode == "cudagraph"

    # -- lifecycle -------------------------------------------------------------------------
    def _activate(self) -> None:
        model, self.model_name, self.input_spec = _resolve_source(self._source, *self._source_args)
        if self.threads is not None and self.device == "cpu":
            torch.set_num_threads(self.threads)
        model = model.eval().to(self.torch_device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        if self.features:
            from resnet_deploy.models import Backbone

            model = Backbone(model).eval()
            self._output_names = model.stage_names()
        with torch.inference_mode():
            probe = torch.zeros(self.input_spec.shape(1), device=self.torch_device)  # type: ignore[arg-type]
            out = model(probe)
            self._num_classes = 0 if self.features else int(out.shape[-1])
        if self.precision == "bf16" and self.device == "cpu":
            # a copy: a module the caller passed in stays theirs, in FP32
            model = copy.deepcopy(model).to(torch.bfloat16) if isinstance(self._source, nn.Module) \
                else model.to(torch.bfloat16)
            self._weights_dtype = torch.bfloat16
        self._model = model
        if self.mode == "compile":
            self._model = torch.compile(model, mode=self.compile_mode, dynamic=False)
        if self.device == "cuda":
            self._stream = torch.cuda.Stream(device=self.torch_device)
        if self.precision == "bf16":
            self._bf16_native = _bf16_native(self.torch_device)
        log.info("torch runner: %s on %s (%s, %s%s)", self.model_name, self.torch_device, self.mode, self.precision,
                 ", channels_last" if self.channels_last else "")

    def _deactivate(self) -> None:
        if self._stream is not None:
            self._stream.synchronize()
        self._graphs.clear()
        self._weights_dtype = None
        self._warm_batches.clear()
        self._external.clear()
        self._model = None
        self._stream = None
        self._host_in = self._host_out = self._dev_in = self._dev_out = None

    def _require_active(self) -> None:
        if self._model is None or self.input_spec is None:
            raise RuntimeError(f"{self.name}: the runner is not active; use it as a context manager or call activate()")

    @property
    def module(self) -> nn.Module:
        """The model as it runs (after channels_last, before torch.compile), for per-module profiling."""
        self._require_active()
        return self._model._orig_mod if self.mode == "compile" else self._model  # type: ignore[no-any-return]

    # -- description -----------------------------------------------------------------------
    def inputs(self) -> list[TensorInfo]:
        self._require_active()
        assert self.input_spec is not None
        spec = self.input_spec
        return [TensorInfo(INPUT_NAME, (None, spec.channels, spec.height, spec.width), np.dtype(np.float32))]

    def outputs(self) -> list[TensorInfo]:
        self._require_active()
        if self.features:
            return [TensorInfo(name, (None, None, None, None), np.dtype(np.float32)) for name in self._output_names]
        return [TensorInfo(OUTPUT_NAME, (None, self._num_classes), np.dtype(np.float32))]

    def describe(self) -> JsonObject:
        info = super().describe()
        if self.precision == "bf16" and self._bf16_native is not None:
            info["bf16_native"] = self._bf16_native
            info["bf16_by"] = "weights" if self._weights_dtype is not None else "autocast"
        info.update({"model": self.model_name, "mode": self.mode, "precision": self.precision, "features": self.features,
                     "channels_last": self.channels_last, "torch": torch.__version__,
                     "torch_device": str(self.torch_device), "threads": self.threads or torch.get_num_threads()})
        if self.device == "cuda":
            info["gpu"] = torch.cuda.get_device_name(self.torch_device)
        return info

    # -- compute ---------------------------------------------------------------------------
    def _autocast(self) -> Any:
        dtype = None if self._weights_dtype is not None else PRECISIONS[self.precision]
        # cache_enabled=False: autocast's weight cache must not outlive a CUDA graph capture.
        return torch.autocast(self.device, dtype=dtype, enabled=dtype is not None, cache_enabled=False)

    def _in_weights_dtype(self, x: torch.Tensor) -> torch.Tensor:
        """The input in the dtype the weights are stored in (CPU bf16), as is otherwise."""
        return x if self._weights_dtype is None else x.to(self._weights_dtype)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self._in_weights_dtype(x)
        with torch.inference_mode(), self._autocast():
            out = self._model(x)
        return out.float() if out.dtype != torch.float32 else out

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._require_active()
        self.check_feeds(feeds)
        if self.device == "cuda":
            with self._lock:  # one set of staging buffers and one stream: one call at a time
                self.stage(feeds)
                self.enqueue_h2d()
                self.enqueue_compute()
                self.enqueue_d2h()
                self.synchronize()
                return self.fetch_outputs()
        x = torch.from_numpy(np.ascontiguousarray(feeds[INPUT_NAME]))
        if self.features:
            with torch.inference_mode():
                stages = self._model(self._in_weights_dtype(x))
            return {name: t.float().numpy().copy() for name, t in zip(self._output_names, stages, strict=True)}
        if self.mode == "compile":
            with self._lock:
                return {OUTPUT_NAME: self._forward(x).numpy().copy()}
        return {OUTPUT_NAME: self._forward(x).numpy().copy()}

    # -- DeviceTimingHooks (CUDA only) -----------------------------------------------------
    def _require_cuda(self) -> None:
        self._require_active()
        if self._stream is None:
            raise MissingDependencyError(f"{self.name}: device timing hooks need `device` cuda (this runner is on CPU)")

    @property
    def stream(self) -> int:
        # AttributeError (not MissingDependencyError) on CPU, so isinstance(runner,
        # DeviceTimingHooks) is False for a CPU runner instead of raising.
        if self._stream is None:
            raise AttributeError(f"{self.name}: no CUDA stream (runner on {self.device} or not active)")
        return int(self._stream.cuda_stream)

    def stage(self, feeds: Mapping[str, np.ndarray], *, device_resident: bool = False) -> None:
        """Pinned host input/output buffers and a device input for this batch size; with
        `device_resident` the input is uploaded once here. In cudagraph mode the graph for this
        batch size is captured now (on first use), so the timed loop only replays it."""
        self._require_cuda()
        batch = self.check_feeds(feeds)
        self._stream.synchronize()  # nothing in flight may still read the buffers replaced here
        array = np.ascontiguousarray(feeds[INPUT_NAME])
        self._host_in = torch.from_numpy(array).pin_memory()
        if self.mode == "cudagraph":
            self._dev_in, self._dev_out = self._graph_for(batch)[1:]
        else:
            with torch.cuda.stream(self._stream):  # allocated on the stream that uses it
                self._dev_in = torch.zeros(array.shape, dtype=torch.float32, device=self.torch_device)
            self._dev_out = None
            self._warm_up(batch)
        self._host_out = torch.empty((batch, self._num_classes), dtype=torch.float32).pin_memory()
        if device_resident:
            self.enqueue_h2d()
            self.synchronize()

    def _warm_up(self, batch: int, runs: int = 3) -> None:
        """Forward passes on the runner's stream the first time a batch size is staged, so lazy
        cuBLAS/cuDNN set-up, cuDNN's algorithm choice and torch.compile's compilation happen
        now, never inside the timed loop or the harness's CUDA graph capture."""
        if batch in self._warm_batches:
            return
        with torch.cuda.stream(self._stream):
            for _ in range(runs):
                self._forward(self._dev_in)
        self._stream.synchronize()
        self._warm_batches.add(batch)

    def _graph_for(self, batch: int) -> tuple[Any, Any, Any]:
        if batch not in self._graphs:
            from resnet_deploy.runtime.cuda_events import capture_graph

            assert self.input_spec is not None
            static_in = torch.zeros(self.input_spec.shape(batch), device=self.torch_device)  # type: ignore[arg-type]
            with torch.cuda.stream(self._stream):
                for _ in range(3):  # warm up cuDNN autotuning and allocator pools before capture
                    self._forward(static_in)
            self._stream.synchronize()
            graph = torch.cuda.CUDAGraph()
            outputs: list[Any] = []
            capture_graph(torch, graph, self._stream, lambda: outputs.append(self._forward(static_in)))
            static_out = outputs[0]
            self._graphs[batch] = (graph, static_in, static_out)
            log.info("torch-cudagraph: captured a graph for batch %d", batch)
        return self._graphs[batch]

    def _on(self, stream: int | None) -> Any:
        """The runner's stream, or the harness's input/output stream given by its handle."""
        if stream is None:
            return self._stream
        if stream not in self._external:
            self._external[stream] = torch.cuda.ExternalStream(stream, device=self.torch_device)
        return self._external[stream]

    def enqueue_h2d(self, stream: int | None = None) -> None:
        self._require_cuda()
        with torch.cuda.stream(self._on(stream)):
            self._dev_in.copy_(self._host_in, non_blocking=True)

    def enqueue_compute(self) -> None:
        self._require_cuda()
        with torch.cuda.stream(self._stream):
            if self.mode == "cudagraph":
                self._graphs[int(self._dev_in.shape[0])][0].replay()
            else:
                self._dev_out = self._forward(self._dev_in)

    def enqueue_d2h(self, stream: int | None = None) -> None:
        self._require_cuda()
        target = self._on(stream)
        if stream is not None:  # the allocator must not reuse the output before this copy has read it
            self._dev_out.record_stream(target)
        with torch.cuda.stream(target):
            self._host_out.copy_(self._dev_out, non_blocking=True)

    def synchronize(self) -> None:
        self._require_cuda()
        self._stream.synchronize()

    def fetch_outputs(self) -> dict[str, np.ndarray]:
        self._require_cuda()
        return {OUTPUT_NAME: self._host_out.numpy().copy()}
