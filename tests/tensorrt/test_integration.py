"""Build and run a small network's plan, compare with onnxruntime. Needs TensorRT and a GPU:
skipped here with the reason; run on a GPU machine (RESNET_DEPLOY_TEST_DEVICE=cuda pytest -m gpu)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from resnet_deploy.compare import Tolerance, compare_outputs
from resnet_deploy.errors import InvalidInputError, MissingDependencyError
from resnet_deploy.optional import tensorrt_module
from resnet_deploy.sidecar import sidecar_path
from tests.tensorrt.helpers import conv_model


def _gpu_reason() -> str | None:
    if tensorrt_module() is None:
        return "TensorRT is not installed (pip install 'resnet-deploy[tensorrt]')"
    try:
        from resnet_deploy.runtime.cuda import gpu_properties

        gpu_properties(0)
    except MissingDependencyError as exc:
        return f"no usable GPU: {exc}"
    return None


REASON = _gpu_reason()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(REASON is not None, reason=REASON or "")]


def _reference(model: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"input": x})[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from resnet_deploy.tensorrt import build_engine

    folder = tmp_path_factory.mktemp("trt")
    paths = {}
    for precision in ("fp32", "fp16"):
        model = conv_model(folder / f"m_{precision}.onnx", fp16=precision == "fp16", size=16)
        plan = folder / f"m_{precision}.plan"
        result = build_engine(model, plan, min_batch=1, opt_batch=4, max_batch=16, timing_cache=folder / "timing.cache")
        assert result.precision == precision and result.plan == plan
        paths[precision], paths[f"{precision}_onnx"] = plan, model
    return paths


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_plan_matches_onnxruntime(built: dict[str, Path], precision: str) -> None:
    from resnet_deploy.tensorrt import Engine

    x = np.random.default_rng(0).standard_normal((8, 3, 16, 16), dtype=np.float32)
    with Engine.load(built[precision]) as engine:
        assert engine.batch_limits() == (1, 16)
        logits = engine(x)
    comparison = compare_outputs(_reference(built[f"{precision}_onnx"], x), logits, Tolerance.for_precision(precision))
    assert comparison, comparison


def test_sidecar_records_the_build(built: dict[str, Path]) -> None:
    meta = json.loads(sidecar_path(built["fp16"]).read_text())
    assert meta["kind"] == "plan" and meta["precision"] == "fp16"
    assert meta["profile"]["input"] == {"min": [1, 3, 16, 16], "opt": [4, 3, 16, 16], "max": [16, 3, 16, 16]}
    assert meta["gpu"]["compute_capability"] and meta["tensorrt_version"]
    assert meta["layers"]["detailed"] and meta["precision_check"]["ok"]
    assert (built["fp16"].parent / "timing.cache").stat().st_size > 0


def test_runner_hooks_threads_async_and_graphs(built: dict[str, Path]) -> None:
    from resnet_deploy.backends.base import DeviceTimingHooks
    from resnet_deploy.backends.tensorrt_runner import TensorRTRunner
    from resnet_deploy.tensorrt import Engine

    x = np.random.default_rng(1).standard_normal((4, 3, 16, 16), dtype=np.float32)
    expected = _reference(built["fp32_onnx"], x)
    with TensorRTRunner(built["fp32"], cuda_graphs=True) as runner:
        assert isinstance(runner, DeviceTimingHooks)
        runner.stage({"input": x}, device_resident=True)
        for _ in range(3):
            runner.enqueue_compute()
            runner.enqueue_d2h()
        runner.synchronize()
        np.testing.assert_allclose(runner.fetch_outputs()["logits"], expected, atol=1e-3)
        with pytest.raises(InvalidInputError, match="outside"):
            runner.infer({"input": np.zeros((17, 3, 16, 16), np.float32)})
    with Engine.load(built["fp32"], contexts=2) as engine:
        results: list[np.ndarray] = []
        threads = [threading.Thread(target=lambda: results.append(engine(x))) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 4 and all(np.allclose(r, expected, atol=1e-3) for r in results)
        request = engine.infer_async({"input": x})
        np.testing.assert_allclose(request.wait()["logits"], expected, atol=1e-3)


def test_torch_cuda_tensors_zero_copy(built: dict[str, Path]) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here")
    from resnet_deploy.tensorrt import Engine

    x = np.random.default_rng(2).standard_normal((2, 3, 16, 16), dtype=np.float32)
    with Engine.load(built["fp32"]) as engine:
        out = engine(torch.from_numpy(x).cuda())
        assert out.is_cuda
        np.testing.assert_allclose(out.cpu().numpy(), _reference(built["fp32_onnx"], x), atol=1e-3)
