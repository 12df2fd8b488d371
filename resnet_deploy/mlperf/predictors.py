"""What runs a batch for a SUT: an in-process runner of the backend registry, a Triton server
over gRPC or HTTP, or a user's own callable. Every predictor takes a batch of preprocessed
samples and returns the logits, and may be called from several threads at once (runners are
thread-safe; Triton clients are kept one per thread)."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.input_spec import InputSpec
from resnet_deploy.jsontypes import JsonObject


@runtime_checkable
class Predictor(Protocol):
    """x (N, C, H, W) in `input_dtype` -> logits (N, classes)."""

    input_dtype: np.dtype[Any]

    def batch_limits(self) -> tuple[int, int | None]: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


class RunnerPredictor:
    """An activated runner of backends/registry.py (its one image input, its logits output)."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        runner.activate()
        try:
            inputs, outputs = runner.inputs(), runner.outputs()
            if len(inputs) != 1:
                raise InvalidInputError(f"{runner.name}: the model takes {len(inputs)} inputs; MLPerf's image "
                                        "classification needs one")
            self.input_name = inputs[0].name
            self.input_dtype = np.dtype(inputs[0].dtype)
            names = [o.name for o in outputs]
            self.output_name = "logits" if "logits" in names else names[0]
        except BaseException:
            runner.deactivate()
            raise

    def batch_limits(self) -> tuple[int, int | None]:
        limits: tuple[int, int | None] = self.runner.batch_limits()
        return limits

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.runner.infer({self.input_name: x})[self.output_name])

    def describe(self) -> JsonObject:
        described: JsonObject = self.runner.describe()
        return described

    def close(self) -> None:
        self.runner.deactivate()


@dataclass(frozen=True)
class ServerAddress:
    """A Triton endpoint: `localhost:8001` or `grpc://host:8001` (gRPC), `http://host:8000` (HTTP)."""

    protocol: str
    url: str  # host:port, as tritonclient takes it

    @classmethod
    def parse(cls, text: str) -> ServerAddress:
        text = text.strip()
        protocol = "grpc"
        for prefix in ("http://", "grpc://"):
            if text.startswith(prefix):
                protocol, text = prefix[:-3], text[len(prefix):]
        host, _, port = text.rstrip("/").rpartition(":")
        if not host or not port.isdigit() or "/" in text.rstrip("/"):
            raise InvalidInputError(f"server address {text!r} must be HOST:PORT (gRPC, e.g. localhost:8001) or "
                                    "http://HOST:PORT (e.g. http://localhost:8000)", param="server")
        return cls(protocol, text.rstrip("/"))

    def __str__(self) -> str:
        return f"{self.protocol}://{self.url}"


_TRITON_DTYPES = {"FP32": "float32", "FP16": "float16", "INT8": "int8", "UINT8": "uint8", "INT32": "int32",
                  "INT64": "int64"}


class TritonPredictor:
    """A model on a Triton server (from `triton-repo` or `resnet-deploy serve`): its one input and
    its output read from the server's model metadata; one client per calling thread."""

    def __init__(self, address: ServerAddress, model: str, timeout_s: float = 10.0) -> None:
        from resnet_deploy.optional import import_optional

        self.address, self.model = address, model
        self._module = import_optional(f"tritonclient.{address.protocol}", "loading a Triton server")
        self._utils = import_optional("tritonclient.utils", "loading a Triton server")
        self._local = threading.local()
        self.timeout_s = timeout_s
        client = self._client()
        try:
            ready = client.is_model_ready(model)
        except Exception as exc:  # connection refused, DNS, TLS: the client raises its own types
            raise InvalidInputError(f"no Triton server answers at {address} ({_first_line(exc)}); start one with "
                                    "`resnet-deploy serve MODEL` or tritonserver", param="server") from exc
        if not ready:
            raise InvalidInputError(f"the Triton server at {address} has no ready model {model!r}", param="model")
        metadata = client.get_model_metadata(model)
        config = client.get_model_config(model)
        if address.protocol == "grpc":
            from google.protobuf.json_format import MessageToDict

            metadata = MessageToDict(metadata, preserving_proto_field_name=True)
            config = MessageToDict(config, preserving_proto_field_name=True)
        config = config.get("config", config)
        inputs, outputs = metadata.get("inputs", []), metadata.get("outputs", [])
        if len(inputs) != 1 or not outputs:
            raise InvalidInputError(f"Triton model {model!r} has {len(inputs)} inputs and {len(outputs)} outputs; "
                                    "MLPerf's image classification needs one input and a logits output")
        self.input_name = inputs[0]["name"]
        self.triton_dtype = inputs[0]["datatype"]
        if self.triton_dtype not in _TRITON_DTYPES:
            raise InvalidInputError(f"Triton model {model!r} takes {self.triton_dtype}; resnet-deploy feeds images as "
                                    "FP32, FP16 or integers", param="model")
        self.input_dtype = np.dtype(_TRITON_DTYPES[self.triton_dtype])
        names = [o["name"] for o in outputs]
        self.output_name = "logits" if "logits" in names else names[0]
        self.max_batch = int(config.get("max_batch_size", 0) or 0)
        self.dynamic_batching = config.get("dynamic_batching")
        shape = [int(d) for d in inputs[0]["shape"]]
        dims = shape[1:]  # metadata shapes lead with the batch axis (-1 when Triton batches)
        self.spec = InputSpec(dims[0], dims[1], dims[2]) if len(dims) == 3 and min(dims) > 0 else None

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._module.InferenceServerClient(self.address.url)
            self._local.client = client
        return client

    def batch_limits(self) -> tuple[int, int | None]:
        return (1, self.max_batch) if self.max_batch > 0 else (1, 1)

    def predict(self, x: np.ndarray) -> np.ndarray:
        tensor = self._module.InferInput(self.input_name, list(x.shape), self.triton_dtype)
        tensor.set_data_from_numpy(x)
        result = self._client().infer(self.model, [tensor],
                                      outputs=[self._module.InferRequestedOutput(self.output_name)])
        return np.asarray(result.as_numpy(self.output_name))

    def describe(self) -> JsonObject:
        return {"server": str(self.address), "model": self.model, "max_batch_size": self.max_batch,
                "dynamic_batching": self.dynamic_batching}

    def close(self) -> None:
        client = getattr(self._local, "client", None)
        if client is not None:
            client.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_callable(reference: str) -> Callable[..., Any]:
    """`package.module:function` -> the function (a user's own predictor factory)."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise InvalidInputError(f"predictor {reference!r} must be MODULE:FUNCTION", param="predictor")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInputError(f"cannot import predictor module {module_name!r}: {exc}", param="predictor") from exc
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise InvalidInputError(f"{module_name} has no callable {attribute!r}", param="predictor")
    return factory  # type: ignore[no-any-return]
