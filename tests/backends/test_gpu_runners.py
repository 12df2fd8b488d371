"""onnxruntime CUDA / TensorRT-EP runners and the TensorRT runner: exit 3 with the extra to
install when the provider is missing (here), real runs compared with the CPU where a GPU is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from resnet_deploy.backends.base import DeviceTimingHooks
from resnet_deploy.backends.onnxruntime_gpu import OnnxRuntimeGpuRunner
from resnet_deploy.backends.onnxruntime_runner import OnnxRuntimeRunner
from resnet_deploy.backends.tensorrt_runner import TensorRTRunner
from resnet_deploy.errors import InvalidInputError, MissingDependencyError
from tests.tensorrt.helpers import conv_model

PROVIDERS = ort.get_available_providers()
HAS = {"cuda": "CUDAExecutionProvider" in PROVIDERS, "tensorrt": "TensorrtExecutionProvider" in PROVIDERS}


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return conv_model(tmp_path / "m.onnx", size=16)


@pytest.mark.parametrize(("provider", "name"), [("cuda", "ort-cuda"), ("tensorrt", "ort-trt")])
def test_missing_provider_is_exit_3_naming_onnxruntime_gpu(model: Path, provider: str, name: str) -> None:
    if HAS[provider]:
        pytest.skip(f"{provider} provider is available here")
    runner = OnnxRuntimeGpuRunner(model, provider=provider)
    assert runner.name == name and runner.device == "cuda"
    with pytest.raises(MissingDependencyError) as info:
        runner.activate()
    assert info.value.exit_code == 3
    assert "onnxruntime-gpu" in str(info.value) and "never both" in str(info.value)
    assert not runner.is_active and not isinstance(runner, DeviceTimingHooks)


def test_bad_provider_and_runner_protocols(model: Path) -> None:
    with pytest.raises(InvalidInputError, match="GPU provider"):
        OnnxRuntimeGpuRunner(model, provider="cpu")
    assert not isinstance(TensorRTRunner(model.with_suffix(".plan")), DeviceTimingHooks)  # inactive: no stream
    with pytest.raises(RuntimeError, match="activate"):  # a programming error, not bad input
        TensorRTRunner(model.with_suffix(".plan")).inputs()


@pytest.mark.gpu
@pytest.mark.parametrize("provider", ["cuda", "tensorrt"])
def test_gpu_provider_matches_cpu(model: Path, provider: str) -> None:
    if not HAS[provider]:
        pytest.skip(f"onnxruntime here has no {provider} provider (needs onnxruntime-gpu and a GPU)")
    x = np.random.default_rng(0).standard_normal((4, 3, 16, 16), dtype=np.float32)
    with OnnxRuntimeRunner(model) as cpu:
        expected = cpu.infer({"input": x})["logits"]
    with OnnxRuntimeGpuRunner(model, provider=provider) as gpu:
        np.testing.assert_allclose(gpu.infer({"input": x})["logits"], expected, atol=1e-3)
        assert isinstance(gpu, DeviceTimingHooks)
        gpu.stage({"input": x})
        for _ in range(2):
            gpu.enqueue_h2d()
            gpu.enqueue_compute()
            gpu.enqueue_d2h()
        gpu.synchronize()
        np.testing.assert_allclose(gpu.fetch_outputs()["logits"], expected, atol=1e-3)
