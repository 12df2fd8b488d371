"""onnxruntime runner (CPU here; the CUDA and TensorRT execution providers subclass it).

Provider choice lives in one overridable method, `_providers()`, so a GPU runner changes
which execution providers the session gets (and adds I/O binding) without copying the
session set-up, the shape checks or the input/output description.
"""

from __future__ import annotations

import logging
import os
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

# onnxruntime's tensor type strings -> numpy dtypes.
_ORT_DTYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(int32)": np.int32, "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}

# onnxruntime (1.32) drops the Relu before a FLOAT8 QuantizeLinear in its level-2 rewrite
# rules (it treats a zero point of 0 as the bottom of the range, as for uint8), so an FP8
# Q/DQ model computes garbage (measured: cosine 0.12 against FP32 instead of 0.999). For
# graphs with FLOAT8 Q/DQ the runner turns those rules off (docs/precision.md, FP8).
FP8_DISABLED_OPTIMIZERS = ("Level2_RuleBasedTransformer",)

QUIET_RUN_LOG = 4  # onnxruntime's "fatal" severity: errors of a run come back as its exception
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
             "tensorrt": "TensorrtExecutionProvider", "openvino": "OpenVINOExecutionProvider"}


def _ort() -> Any:
    return import_optional("onnxruntime", "the onnxruntime runner")


def provider_list(provider: str, options: dict[str, Any] | None = None) -> list[str | tuple[str, dict[str, Any]]]:
    """onnxruntime's providers argument for a short name (cpu, cuda, tensorrt, openvino) or a
    full provider name; refuses one this onnxruntime build lacks. A non-CPU provider gets
    the CPU provider as fallback for the nodes it cannot run."""
    ort = _ort()
    full = PROVIDERS.get(provider, provider)
    available = ort.get_available_providers()
    if full not in available:
        raise InvalidInputError(f"onnxruntime provider {provider!r} ({full}) is not available here; "
                                f"available: {', '.join(available)}")
    if full == "CPUExecutionProvider":
        return [(full, options)] if options else [full]
    return [(full, options or {}), "CPUExecutionProvider"]


def has_fp8_qdq(model: Any) -> bool:
    """Whether the graph quantizes to FLOAT8 (a Q/DQ zero point or quantized weight of an FP8 type)."""
    from onnx import TensorProto

    fp8 = {TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E4M3FNUZ, TensorProto.FLOAT8E5M2, TensorProto.FLOAT8E5M2FNUZ}
    return any(init.data_type in fp8 for init in model.graph.initializer)


def _dim(value: Any) -> int | str | None:
    return value if isinstance(value, (int, str)) else None


class OnnxRuntimeRunner(StaticIORunner):
    """Runs an ONNX model with onnxruntime. `provider` is a short name (cpu, cuda, tensorrt,
    openvino) or a full onnxruntime provider name; `threads` sets intra-op threads (None:
    onnxruntime's default, one per physical core).

    Thread-safe: onnxruntime documents `InferenceSession.run` as safe to call concurrently,
    and this runner keeps no per-call state of its own."""

    name = "onnxruntime"  # the backend's name (ort-cpu, ...), from the registry row of its provider
    device = "cpu"

    def __init__(self, model_path: str | os.PathLike[str], *, provider: str = "cpu", threads: int | None = None,
                 session_options: Any = None, provider_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        from resnet_deploy.backends.registry import backend_for_provider

        row = backend_for_provider(provider)
        self.name = row.name if row is not None else f"onnxruntime ({provider})"
        self.model_path = Path(model_path)
        self.provider = provider
        self.threads = threads
        self.session_options = session_options
        self.provider_options = dict(provider_options or {})
        if threads is not None and threads < 1:
            raise InvalidInputError(f"threads must be a positive integer, got {threads}")
        self.session: Any = None
        self._run_options: Any = None
        self.disabled_optimizers: tuple[str, ...] = ()

    # -- what subclasses override ---------------------------------------------------------
    def _providers(self) -> list[str | tuple[str, dict[str, Any]]]:
        """The execution providers for the session, most preferred first (see provider_list)."""
        return provider_list(self.provider, self.provider_options)

    def _make_session_options(self) -> Any:
        ort = _ort()
        options = self.session_options if self.session_options is not None else ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
        return options

    # -- lifecycle -------------------------------------------------------------------------
    def _activate(self) -> None:
        from resnet_deploy.export.detect import detect_precision
        from resnet_deploy.export.loader import load_onnx_model

        ort = _ort()
        # Refuse a bad file with one clear line before onnxruntime gives its own long message.
        model = load_onnx_model(self.model_path, load_external_data=False, check=False)
        if self.device == "cpu":  # an INT8 model made for a CPU of the other kind: warn once
            cpu_isa.warn_if_foreign({p.key: p.value for p in model.metadata_props}, str(self.model_path), "onnxruntime")
        if self.device == "cpu" and detect_precision(model).precision == "bf16":
            raise InvalidInputError(f"'{self.model_path}' is a BF16 model, and onnxruntime's CPU provider has no BF16 "
                                    "convolution; run it with --backend openvino (or tensorrt on a GPU), or run the "
                                    "FP32 model with --precision bf16 on openvino or torch")
        self.disabled_optimizers = FP8_DISABLED_OPTIMIZERS if has_fp8_qdq(model) else ()
        del model
        self.session = ort.InferenceSession(str(self.model_path), sess_options=self._make_session_options(),
                                            providers=self._providers(),
                                            disabled_optimizers=list(self.disabled_optimizers) or None)
        self._inputs = [TensorInfo(i.name, tuple(_dim(d) for d in i.shape), np.dtype(_ORT_DTYPES.get(i.type, np.float32)))
                        for i in self.session.get_inputs()]
        self._outputs = [TensorInfo(o.name, tuple(_dim(d) for d in o.shape), np.dtype(_ORT_DTYPES.get(o.type, np.float32)))
                         for o in self.session.get_outputs()]
        # Made once (not per call: the harness times infer()). A failure is raised with
        # onnxruntime's whole message; its own log line would repeat it.
        self._run_options = ort.RunOptions()
        self._run_options.log_severity_level = QUIET_RUN_LOG
        log.info("onnxruntime session on %s with providers %s", self.model_path, self.session.get_providers())

    def _deactivate(self) -> None:
        self.session = None
        self._inputs, self._outputs = [], []

    # -- inference -------------------------------------------------------------------------
    def infer(self, feeds: Mapping[str, np.ndarray], output_names: list[str] | None = None) -> dict[str, np.ndarray]:
        """Run on host arrays; `output_names` picks a subset of outputs (all by default)."""
        self._require_active()
        self.check_feeds(feeds)
        names = output_names or [o.name for o in self._outputs]
        results = self.session.run(names, dict(feeds), self._run_options)
        return dict(zip(names, results, strict=True))

    def describe(self) -> JsonObject:
        info = super().describe()
        info.update({"model": str(self.model_path), "provider": self.provider, "threads": self.threads,
                     "providers": self.session.get_providers() if self.session is not None else None})
        if self.disabled_optimizers:
            info["disabled_optimizers"] = list(self.disabled_optimizers)
        return info
