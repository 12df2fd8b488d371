"""OpenVINO runner: ONNX models (FP32, FP16, Q/DQ INT8) on Intel/AMD CPUs (and OpenVINO GPUs).

OpenVINO reads ONNX directly: FP16 weights are kept or upcast by the plugin, and Q/DQ pairs
become INT8 kernels (the uint8-activation CPU layout is the fast one on x86). The CPU plugin
may pick bf16 on its own on CPUs that have it, which would change the accuracy being
measured, so the runner asks for f32 inference precision unless told otherwise; precision
then comes from the graph, as everywhere in this project. `precision="bf16"` asks for BF16
(the run precision `--precision bf16` chooses); either way the runner reads back what the
compiled model really runs (its INFERENCE_PRECISION_HINT and the runtime precision of its
compute layers), and `describe()` reports that, not the request.
"""

from __future__ import annotations

import logging
import os
import queue
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resnet_deploy import cpu_isa
from resnet_deploy.backends.base import StaticIORunner, TensorInfo
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.optional import import_optional

log = logging.getLogger(__name__)

HINTS = {"latency": "LATENCY", "throughput": "THROUGHPUT"}
# Run precisions (RunOptions.precision) -> OpenVINO's INFERENCE_PRECISION_HINT.
PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16"}
# OpenVINO element types of compute layers -> the project's precision names.
_ELEMENT_PRECISION = {"f32": "fp32", "bf16": "bf16", "f16": "fp16", "u8": "int8", "i8": "int8"}
_COMPUTE_LAYERS = frozenset({"Convolution", "GroupConvolution", "FullyConnected", "MatMul", "Deconvolution"})


class OpenVinoRunner(StaticIORunner):
    """Runs an ONNX model with OpenVINO. `device` is an OpenVINO device name ("CPU", "GPU",
    "AUTO"); `threads` caps inference threads (None: OpenVINO's choice); `hint` is OpenVINO's
    performance hint; `precision` (fp32 or bf16, RunOptions.precision) or, lower level,
    `inference_precision` (OpenVINO's "f32", "bf16", "f16", or None for the plugin's default)
    is the precision of the layers the graph leaves in float; default f32. `perf_counters`
    turns on OpenVINO's per-layer performance counters (`profile` reads them through
    `compiled_model`).

    Thread-safe: an OpenVINO infer request holds its input and output tensors, so two threads
    sharing one overwrite each other's data (seen: wrong logits on most calls from 8 threads).
    Each call borrows an idle request from a pool (creating one when all are busy) and gives
    it back, so there are never more requests than concurrent callers, and memory stays flat."""

    name = "openvino"
    device = "cpu"

    def __init__(self, model_path: str | os.PathLike[str], *, device: str = "CPU", threads: int | None = None,
                 hint: str = "latency", precision: str | None = None, inference_precision: str | None = "f32",
                 perf_counters: bool = False) -> None:
        super().__init__()
        if precision is not None:
            if precision not in PRECISION_HINTS:
                raise InvalidInputError(f"OpenVINO runs precision {', '.join(PRECISION_HINTS)} from an FP32 model, "
                                        f"not {precision!r}", param="precision")
            inference_precision = PRECISION_HINTS[precision]
        if hint not in HINTS:
            raise InvalidInputError(f"unknown OpenVINO performance hint {hint!r}; valid: {', '.join(HINTS)}")
        if threads is not None and threads < 1:
            raise InvalidInputError(f"threads must be a positive integer, got {threads}")
        self.model_path = Path(model_path)
        self.ov_device = device
        self.device = "cpu" if device.upper() == "CPU" else device.lower()
        self.threads = threads
        self.hint = hint
        self.inference_precision = inference_precision
        self.perf_counters = perf_counters
        self._compiled: Any = None
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._output_names: list[str] = []
        self.ran: RanPrecision | None = None  # what the compiled model really runs (read back after compiling)

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"PERFORMANCE_HINT": HINTS[self.hint]}
        if self.threads is not None:
            config["INFERENCE_NUM_THREADS"] = self.threads
        if self.inference_precision and self.ov_device.upper() == "CPU":
            config["INFERENCE_PRECISION_HINT"] = self.inference_precision
        if self.perf_counters:
            config["PERF_COUNT"] = True
        return config

    def _activate(self) -> None:
        from resnet_deploy.export.loader import load_onnx_model

        ov = import_optional("openvino", "the OpenVINO runner")
        onnx_model = load_onnx_model(self.model_path, load_external_data=False, check=False)  # one clear line for a bad file
        graph_names = {i.name for i in onnx_model.graph.input} | {o.name for o in onnx_model.graph.output}
        if self.device == "cpu":  # an INT8 model made for a CPU of the other kind: warn once
            cpu_isa.warn_if_foreign({p.key: p.value for p in onnx_model.metadata_props}, str(self.model_path), "OpenVINO")
        del onnx_model
        core = ov.Core()
        if self.ov_device.split(":")[0].split(".")[0].upper() not in {d.split(".")[0].upper() for d in core.available_devices} | {"AUTO"}:
            raise InvalidInputError(f"OpenVINO device {self.ov_device!r} is not available; available: {', '.join(core.available_devices)}")
        if self.inference_precision == "bf16" and self.device == "cpu":
            cpu_isa.warn_if_no_bf16("OpenVINO")
        model = core.read_model(str(self.model_path))
        self._compiled = core.compile_model(model, self.ov_device, self._config())
        self.ran = _ran_precision(self._compiled)
        self._idle.put(self._compiled.create_infer_request())
        self._inputs = [_info(port, graph_names) for port in self._compiled.inputs]
        self._outputs = [_info(port, graph_names) for port in self._compiled.outputs]
        self._output_names = [info.name for info in self._outputs]
        log.info("OpenVINO compiled %s on %s with %s: runs %s", self.model_path, self.ov_device, self._config(), self.ran)
        if self.inference_precision == "bf16" and self.ran.float_precision != "bf16":
            log.warning("OpenVINO was asked for bf16 but runs %s (%s)", self.ran.float_precision, self.model_path)

    @property
    def compiled_model(self) -> Any:
        """OpenVINO's CompiledModel (for infer requests of one's own and the runtime model)."""
        self._require_active()
        return self._compiled

    def _deactivate(self) -> None:
        self._idle = queue.SimpleQueue()
        self._compiled = None
        self._inputs, self._outputs, self._output_names = [], [], []
        self.ran = None

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._require_active()
        self.check_feeds(feeds)
        try:
            request = self._idle.get_nowait()
        except queue.Empty:
            request = self._compiled.create_infer_request()
        try:
            request.infer({name: np.ascontiguousarray(array) for name, array in feeds.items()})
            return {name: np.array(request.get_output_tensor(index).data, copy=True)
                    for index, name in enumerate(self._output_names)}
        finally:
            self._idle.put(request)

    def describe(self) -> JsonObject:
        info = super().describe()
        info.update({"model": str(self.model_path), "ov_device": self.ov_device, "threads": self.threads,
                     "hint": self.hint, "inference_precision": self.inference_precision})
        if self.ran is not None:  # what really ran, read back from the compiled model
            info["precision"] = self.ran.float_precision
            info["openvino_precision"] = self.ran.to_dict()
        if self._compiled is not None:
            info["openvino_version"] = import_optional("openvino", "the OpenVINO runner").__version__
        return info


def _info(port: Any, graph_names: set[str]) -> TensorInfo:
    """A port's TensorInfo under its ONNX graph name (OpenVINO may attach several names to
    one tensor, e.g. a Cast's output that is also the graph output)."""
    names = sorted(port.get_names())
    name = next((n for n in names if n in graph_names), port.get_any_name())
    shape = tuple(None if dim.is_dynamic else int(dim.get_length()) for dim in port.get_partial_shape())
    return TensorInfo(name, shape, np.dtype(port.get_element_type().to_dtype()))


@dataclass(frozen=True)
class RanPrecision:
    """What a compiled model really runs (read back from OpenVINO, see _ran_precision)."""

    hint: str | None  # the INFERENCE_PRECISION_HINT the plugin settled on
    compute_layers: dict[str, int]  # precision -> how many convolution / fully connected layers run in it
    float_precision: str | None  # the run precision of the float compute: what a report names

    def to_dict(self) -> JsonObject:
        return {"hint": self.hint, "compute_layers": dict(self.compute_layers), "float_precision": self.float_precision}

    def __str__(self) -> str:
        layers = ", ".join(f"{count} {precision}" for precision, count in sorted(self.compute_layers.items()))
        return f"{self.float_precision or 'unknown'} float compute ({layers or 'layers not reported'} compute layers)"


def _ran_precision(compiled: Any) -> RanPrecision:
    """What a compiled model really runs: the INFERENCE_PRECISION_HINT the plugin settled on,
    and the runtime precision of its compute layers (convolutions, fully connected), counted.
    `float_precision` is the run precision of the float compute (fp32, bf16, fp16): what a
    report names. Devices that do not say report None for what they hide."""
    hint: str | None = None
    try:
        hint = str(compiled.get_property("INFERENCE_PRECISION_HINT").to_string())
    except Exception:  # a device without the property
        hint = None
    layers: Counter[str] = Counter()
    try:
        for op in compiled.get_runtime_model().get_ops():
            info = op.get_rt_info()
            if "layerType" in info and "runtimePrecision" in info and info["layerType"].astype(str) in _COMPUTE_LAYERS:
                element = info["runtimePrecision"].astype(str)
                layers[_ELEMENT_PRECISION.get(element, element)] += 1
    except Exception:  # a device without an execution graph
        layers = Counter()
    floats = [p for p, _ in layers.most_common() if p in ("fp32", "bf16", "fp16")]
    float_precision = floats[0] if floats else _ELEMENT_PRECISION.get(hint or "", hint)
    return RanPrecision(hint, dict(layers), float_precision)
