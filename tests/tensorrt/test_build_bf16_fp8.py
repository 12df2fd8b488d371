"""Building BF16 and FP8 models (strongly typed, per-layer precision check) against the stand-in
TensorRT, and refusing a GPU too old for them before anything is converted, built or written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from resnet_deploy.atomic import sidecar_path
from resnet_deploy.errors import CheckFailedError, MissingDependencyError
from resnet_deploy.runtime import cuda as cuda_util
from resnet_deploy.tensorrt.builder import build_engine
from tests.tensorrt.fake_trt import make_fake_trt
from tests.tensorrt.helpers import conv_model, engine_json


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def install(capability: str, conv_precisions: list[str]) -> Any:
        fake = make_fake_trt(inspector_json=engine_json(conv_precisions))
        monkeypatch.setattr("resnet_deploy.tensorrt.builder.require_tensorrt", lambda purpose: fake)
        monkeypatch.setattr("resnet_deploy.runtime.trt.require_tensorrt", lambda purpose: fake)
        monkeypatch.setattr(cuda_util, "gpu_properties",
                            lambda device=0: cuda_util.GpuProperties(0, f"GPU sm{capability}", capability, 24 << 30))
        return fake
    return install


@pytest.fixture
def calib(tmp_path: Path) -> Path:
    path = tmp_path / "calib.npy"
    np.save(path, np.random.default_rng(0).standard_normal((8, 3, 8, 8)).astype(np.float32))
    return path


def _fp8(tmp_path: Path, calib: Path) -> Path:
    from resnet_deploy.precision.fp8 import quantize_fp8

    return quantize_fp8(conv_model(tmp_path / "m.onnx"), tmp_path / "m.fp8.onnx", calib=str(calib), samples=8).output


def test_fp8_model_builds_on_ada_or_hopper_and_its_layers_are_checked(tmp_path: Path, calib: Path,
                                                                      fake_gpu: Any) -> None:
    model = _fp8(tmp_path, calib)
    fake = fake_gpu("9.0", ["fp8", "fp8"])
    result = build_engine(model, tmp_path / "m.plan", max_batch=4)
    assert fake.calls["network_flags"] == 1  # strongly typed
    assert result.precision == "fp8" and result.check and result.check.expected == "fp8"
    fake_gpu("8.9", ["fp8", "fp32", "fp32"])
    with pytest.raises(CheckFailedError, match="only 1 of 3 convolutions run in fp8"):
        build_engine(model, tmp_path / "m2.plan", max_batch=4)
    assert not (tmp_path / "m2.plan").exists()


@pytest.mark.parametrize(("precision", "capability", "needs"), [("fp8", "8.6", "8.9"), ("bf16", "7.5", "8.0")])
def test_an_older_gpu_is_refused_before_anything_is_written(tmp_path: Path, calib: Path, fake_gpu: Any,
                                                            precision: str, capability: str, needs: str) -> None:
    fake = fake_gpu(capability, [precision])
    fp32 = conv_model(tmp_path / "m.onnx")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(MissingDependencyError) as info:  # an FP32 model with the precision step asked for
        build_engine(fp32, tmp_path / "m.plan", max_batch=4, precision=precision, calib=str(calib))
    message = str(info.value)
    assert info.value.exit_code == 3 and "\n" not in message
    assert f"compute capability {needs} or later" in message and f"is {capability}" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no converted model, no plan
    assert "network_flags" not in fake.calls  # nothing was built
    if precision == "fp8":  # an FP8 model given directly
        model = _fp8(tmp_path, calib)
        with pytest.raises(MissingDependencyError, match="fp8 engines need"):
            build_engine(model, tmp_path / "m.plan", max_batch=4)
        assert not (tmp_path / "m.plan").exists() and not sidecar_path(tmp_path / "m.plan").exists()


def test_bf16_model_builds_on_ampere(tmp_path: Path, fake_gpu: Any) -> None:
    from resnet_deploy.precision.bf16 import convert_bf16

    # The tiny model is one Conv and the classifier: convert both so the graph reads as BF16.
    model = convert_bf16(conv_model(tmp_path / "m.onnx"), keep_classifier_fp32=False).output
    fake_gpu("8.6", ["bf16", "bf16"])
    result = build_engine(model, tmp_path / "m.plan", max_batch=4)
    assert result.precision == "bf16" and result.check


def test_fp8_precision_step_then_build(tmp_path: Path, calib: Path, fake_gpu: Any) -> None:
    fake_gpu("9.0", ["fp8"])
    result = build_engine(conv_model(tmp_path / "m.onnx"), tmp_path / "m.plan", max_batch=4, precision="fp8",
                          calib=str(calib), calib_samples=8)
    assert result.precision == "fp8" and result.check
    assert result.precision_step is not None and result.precision_step["ran"] == "quantize_fp8"
    assert Path(result.precision_step["to"]).name == "m.fp8.onnx"
