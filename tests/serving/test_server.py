"""A real Triton server on loopback serving a tiny ResNet-20 through our runner: answers over
HTTP and gRPC equal the runner's, bad requests are refused without hurting the server,
concurrent clients get right answers, and nothing is left running after shutdown."""

from __future__ import annotations

import threading
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.serving.conftest import SERVER_GROUP

pytestmark = pytest.mark.xdist_group(SERVER_GROUP)

http = pytest.importorskip("tritonclient.http", reason="tritonclient is not installed (pip install 'resnet-deploy[serve]')")
grpc = pytest.importorskip("tritonclient.grpc", reason="tritonclient is not installed (pip install 'resnet-deploy[serve]')")
from tritonclient.utils import InferenceServerException  # noqa: E402


@pytest.fixture(scope="module")
def reference(r20_onnx: Path) -> Any:
    from resnet_deploy.backends.onnxruntime_runner import OnnxRuntimeRunner

    with OnnxRuntimeRunner(r20_onnx, threads=1) as runner:
        yield runner


def images(batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3, 32, 32)).astype(np.float32)


def infer_http(url: str, model: str, x: np.ndarray, client: Any = None) -> np.ndarray:
    client = client or http.InferenceServerClient(url)
    tensor = http.InferInput("input", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    return client.infer(model, [tensor]).as_numpy("logits")


def infer_grpc(url: str, model: str, x: np.ndarray, client: Any = None) -> np.ndarray:
    client = client or grpc.InferenceServerClient(url)
    tensor = grpc.InferInput("input", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    return client.infer(model, [tensor]).as_numpy("logits")


@pytest.mark.parametrize("batch", [1, 3])
def test_http_and_grpc_answers_equal_the_runner(server: Any, reference: Any, batch: int) -> None:
    x = images(batch, seed=batch)
    expected = reference.infer({"input": x})["logits"]
    np.testing.assert_array_equal(infer_http(server.http_url, server.model_name, x), expected)
    np.testing.assert_array_equal(infer_grpc(server.grpc_url, server.model_name, x), expected)


def test_health_readiness_metadata_and_metrics_endpoints(server: Any) -> None:
    client = http.InferenceServerClient(server.http_url)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(server.model_name)
    meta = client.get_model_metadata(server.model_name)
    assert [i["name"] for i in meta["inputs"]] == ["input"] and meta["inputs"][0]["shape"] == [-1, 3, 32, 32]
    config = client.get_model_config(server.model_name)
    assert config["max_batch_size"] == 32 and "dynamic_batching" in config
    infer_http(server.http_url, server.model_name, images(1))
    with urllib.request.urlopen(server.metrics_url, timeout=10) as response:
        metrics = response.read().decode()
    assert f'nv_inference_request_success{{model="{server.model_name}",version="1"}}' in metrics


def test_labels_answer_triton_classification_requests(server: Any, reference: Any) -> None:
    x = images(1, seed=7)
    client = http.InferenceServerClient(server.http_url)
    tensor = http.InferInput("input", [1, 3, 32, 32], "FP32")
    tensor.set_data_from_numpy(x)
    result = client.infer(server.model_name, [tensor], outputs=[http.InferRequestedOutput("logits", class_count=3)])
    top = [entry.decode().split(":") for entry in result.as_numpy("logits").reshape(-1)]
    expected = np.argsort(-reference.infer({"input": x})["logits"][0])[:3]
    assert [int(index) for _, index, _ in top] == expected.tolist()
    assert [label for _, _, label in top] == [str(i) for i in expected]  # labels.txt holds the class names


@pytest.mark.parametrize("shape, dtype", [((1, 3, 31, 32), np.float32), ((1, 3, 32, 32), np.float64),
                                          ((1, 32, 32), np.float32)])
def test_wrong_shape_or_dtype_is_a_client_error_and_the_server_keeps_serving(server: Any, reference: Any,
                                                                             shape: tuple[int, ...], dtype: Any) -> None:
    x = np.zeros(shape, dtype)
    datatype = "FP64" if dtype == np.float64 else "FP32"
    h = http.InferInput("input", list(shape), datatype)
    h.set_data_from_numpy(x)
    with pytest.raises(InferenceServerException) as http_error:
        http.InferenceServerClient(server.http_url).infer(server.model_name, [h])
    assert http_error.value.status() == "400"
    g = grpc.InferInput("input", list(shape), datatype)
    g.set_data_from_numpy(x)
    with pytest.raises(InferenceServerException) as grpc_error:
        grpc.InferenceServerClient(server.grpc_url).infer(server.model_name, [g])
    assert "INVALID_ARG" in str(grpc_error.value.status())
    good = images(2, seed=11)
    np.testing.assert_array_equal(infer_grpc(server.grpc_url, server.model_name, good),
                                  reference.infer({"input": good})["logits"])


def test_eight_concurrent_clients_two_hundred_requests_each(server: Any, reference: Any) -> None:
    inputs = [images(1 + i % 2, seed=100 + i) for i in range(8)]
    expected = [reference.infer({"input": x})["logits"] for x in inputs]
    failures: list[str] = []

    def client(index: int) -> None:
        use_http = index % 2 == 0
        connection = (http.InferenceServerClient(server.http_url) if use_http
                      else grpc.InferenceServerClient(server.grpc_url))
        infer = infer_http if use_http else infer_grpc
        url = server.http_url if use_http else server.grpc_url
        for n in range(200):
            try:
                got = infer(url, server.model_name, inputs[index], connection)
                # Batched with other clients' requests: equal up to float summation order.
                np.testing.assert_allclose(got, expected[index], rtol=1e-5, atol=1e-5)
            except Exception as exc:  # collected: an assert in a thread would be lost
                failures.append(f"client {index} request {n}: {type(exc).__name__}: {exc}")
                return

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "clients did not finish"
    assert not failures, failures[:3]
    stats = http.InferenceServerClient(server.http_url).get_inference_statistics(server.model_name)
    counts = stats["model_stats"][0]
    assert counts["inference_count"] >= 8 * 200 and counts["execution_count"] <= counts["inference_count"]
