"""OpenVINO runner: ONNX models (FP32, FP16, Q/DQ INT8) on Intel/AMD CPUs (and OpenVINO GPUs).

OpenVINO reads ONNX directly: FP16 weights are kept or upcast by the plugin, and Q/DQ pairs
become INT8 kernels (the uint8-activation CPU layout is the fast one on x86). The CPU plugin
may pick bf16 on its own on CPUs that have it, which would change the accuracy being
measured, so the runner asks for f32 inference precision unless told otherwise; precision
then comes from the graph, as everywhere in this project.
"""

from __future__ import annotations

import logging
import os
import queue
from collections.abc import Mapping
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


class OpenVinoRunner(StaticIORunner):
    """Runs an ONNX model with OpenVINO. `device` is an OpenVINO device name ("CPU", "GPU",
    "AUTO"); `threads` caps inference threads (None: OpenVINO's choice); `hint` is OpenVINO's
    performance hint; `inference_precision` ("f32", "bf16", "f16" or None for the plugin's
    default) is the precision of the layers the graph leaves in float.

    Thread-safe: an OpenVINO infer request holds its input and output tensors, so two threads
    sharing one overwrite each other's data (seen: wrong logits on most calls from 8 threads).
    Each call borrows an idle request from a pool (creating one when all are busy) and gives
    it back, so there are never more requests than concurrent callers, and memory stays flat."""

    name = "openvino"
    device = "cpu"

    def __init__(self, model_path: str | os.PathLike[str], *, device: str = "CPU", threads: int | None = None,
                 hint: str = "latency", inference_precision: str | None = "f32") -> None:
        super().__init__()
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
        self._compiled: Any = None
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._output_names: list[str] = []

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"PERFORMANCE_HINT": HINTS[self.hint]}
        if self.threads is not None:
            config["INFERENCE_NUM_THREADS"] = self.threads
        if self.inference_precision and self.ov_device.upper() == "CPU":
            config["INFERENCE_PRECISION_HINT"] = self.inference_precision
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
        model = core.read_model(str(self.model_path))
        self._compiled = core.compile_model(model, self.ov_device, self._config())
        self._idle.put(self._compiled.create_infer_request())
        self._inputs = [_info(port, graph_names) for port in self._compiled.inputs]
        self._outputs = [_info(port, graph_names) for port in self._compiled.outputs]
        self._output_names = [info.name for info in self._outputs]
        log.info("OpenVINO compiled %s on %s with %s", self.model_path, self.ov_device, self._config())

    def _deactivate(self) -> None:
        self._idle = queue.SimpleQueue()
        self._compiled = None
        self._inputs, self._outputs, self._output_names = [], [], []

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
