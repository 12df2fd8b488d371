"""build_engine's control flow against a stand-in TensorRT module (tests/tensorrt/fake_trt.py):
what it asks TensorRT for, what it writes, and what it refuses to write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from resnet_deploy.errors import ArtifactError, CheckFailedError, InvalidInputError
from resnet_deploy.runtime import cuda as cuda_util
from resnet_deploy.runtime.plan_meta import load_plan_meta
from resnet_deploy.sidecar import sidecar_path
from resnet_deploy.tensorrt.builder import build_engine
from tests.tensorrt.fake_trt import make_fake_trt
from tests.tensorrt.helpers import conv_model, engine_json


@pytest.fixture
def use_fake(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def install(**kwargs: Any) -> Any:
        fake = make_fake_trt(**kwargs)
        monkeypatch.setattr("resnet_deploy.tensorrt.builder.require_tensorrt", lambda purpose: fake)
        monkeypatch.setattr("resnet_deploy.runtime.trt.require_tensorrt", lambda purpose: fake)
        monkeypatch.setattr(cuda_util, "gpu_properties",
                            lambda device=0: cuda_util.GpuProperties(0, "NVIDIA RTX A6000", "8.6", 48 << 30))
        return fake
    return install


def test_fp16_build_writes_plan_sidecar_and_timing_cache(tmp_path: Path, use_fake: Any) -> None:
    fake = use_fake(inspector_json=engine_json(["fp16", "fp16"]))
    model = conv_model(tmp_path / "m.fp16.onnx", fp16=True)
    cache = tmp_path / "trt.cache"
    cache.write_bytes(b"earlier")
    result = build_engine(model, tmp_path / "m.plan", max_batch=16, workspace="1G", opt_level=4,
                          timing_cache=cache, version_compatible=True, hardware_compatibility="ampere_plus")
    calls = fake.calls
    assert calls["network_flags"] == 1 and calls["verbosity"].name == "DETAILED"
    assert calls["profiles"] == [{"input": ([1, 3, 8, 8], [16, 3, 8, 8], [16, 3, 8, 8])}]
    assert calls["workspace"] == 1 << 30 and calls["config"].builder_optimization_level == 4
    assert calls["flags"] == ["VERSION_COMPATIBLE"] and calls["host_code_allowed"] is True
    assert calls["config"].hardware_compatibility_level.name == "AMPERE_PLUS"
    assert calls["timing_cache_in"] == b"earlier" and cache.read_bytes() == b"earlier+tuned"
    assert result.precision == "fp16" and result.check and result.plan.read_bytes().startswith(b"PLAN")
    meta = load_plan_meta(result.plan)  # sha256 matches, required fields present
    assert meta.precision == "fp16" and meta.tensorrt_version == "10.13.0.35"
    assert meta.gpu.compute_capability == "8.6" and meta.hardware_compatibility == "ampere_plus"
    assert meta.io_tensors[0].model_dump() == {"name": "input", "mode": "input", "dtype": "float32", "shape": [-1, 3, 8, 8]}
    assert meta.source_onnx and meta.source_onnx["sha256"]
    assert meta.layers is not None and [layer.precision for layer in meta.layers.layers if layer.convolution] == ["fp16"] * 2
    assert meta.profile["input"].max == [16, 3, 8, 8]


def test_precision_fallback_is_refused_and_the_plan_not_written(tmp_path: Path, use_fake: Any) -> None:
    use_fake(inspector_json=engine_json(["fp16", "fp32", "fp32"]))
    model = conv_model(tmp_path / "m.fp16.onnx", fp16=True)
    plan = tmp_path / "m.plan"
    with pytest.raises(CheckFailedError, match="only 1 of 3 convolutions run in fp16") as info:
        build_engine(model, plan, max_batch=4)
    assert info.value.exit_code == 1 and "/layer1/layer1.1/conv1/Conv" in str(info.value)
    assert not plan.exists() and not sidecar_path(plan).exists()
    rejected = json.loads((tmp_path / "m.plan.rejected.json").read_text())
    assert rejected["precision_check"]["ok"] is False
    forced = build_engine(model, plan, max_batch=4, check_precision=False)
    assert plan.exists() and not forced.check


def test_parser_and_build_failures_are_one_line(tmp_path: Path, use_fake: Any) -> None:
    model = conv_model(tmp_path / "m.onnx")
    use_fake(inspector_json=engine_json(["fp32"]), parse_ok=False)
    with pytest.raises(ArtifactError, match=r"Unsupported operator Foo \[node 3 '/head/foo' \(Foo\)\]"):
        build_engine(model, tmp_path / "m.plan", max_batch=4)
    use_fake(inspector_json=engine_json(["fp32"]), build_ok=False)
    with pytest.raises(CheckFailedError, match=r"could not build an engine.*reformatting-free"):
        build_engine(model, tmp_path / "m.plan", max_batch=4)
    assert not (tmp_path / "m.plan").exists()


def test_fp32_model_needs_calibration_for_int8(tmp_path: Path, use_fake: Any) -> None:
    use_fake(inspector_json=engine_json(["int8"]))
    model = conv_model(tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="calibration data") as info:
        build_engine(model, tmp_path / "m.plan", max_batch=4, precision="int8")
    assert info.value.param == "calib" and "--" not in str(info.value)  # library messages name parameters
    fp16 = conv_model(tmp_path / "h.onnx", fp16=True)
    with pytest.raises(ValueError, match="already fp16"):
        build_engine(fp16, tmp_path / "h.plan", max_batch=4, precision="int8")


@pytest.mark.parametrize("behaviour", ["raise", "none", "mismatch"])
def test_unusable_timing_cache_warns_and_starts_empty(tmp_path: Path, use_fake: Any, behaviour: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """A cache from another TensorRT version or GPU: create_timing_cache raises or returns None,
    or set_timing_cache refuses it. The build goes on with an empty cache and replaces the file."""
    fake = use_fake(inspector_json=engine_json(["fp16"]), timing_cache=behaviour)
    model = conv_model(tmp_path / "m.fp16.onnx", fp16=True)
    cache = tmp_path / "trt.cache"
    cache.write_bytes(b"from TensorRT 10.8")
    result = build_engine(model, tmp_path / "m.plan", max_batch=4, timing_cache=cache)
    assert fake.calls["timing_cache_in"] == b"from TensorRT 10.8"
    assert result.plan.exists() and cache.read_bytes() == b"fresh+tuned"  # the empty cache, tuned and saved
    assert len(result.warnings) == 1 and "starting an empty one" in result.warnings[0]
    assert "trt.cache" in caplog.text


def test_same_compute_capability_needs_tensorrt_10_10(tmp_path: Path, use_fake: Any) -> None:
    use_fake(inspector_json=engine_json(["fp16"]), version="10.8.0.43", hardware_levels=("AMPERE_PLUS",))
    model = conv_model(tmp_path / "m.fp16.onnx", fp16=True)
    with pytest.raises(InvalidInputError, match=r"needs TensorRT 10\.10 or later, but TensorRT 10\.8\.0\.43") as info:
        build_engine(model, tmp_path / "m.plan", max_batch=4, hardware_compatibility="same_compute_capability")
    assert info.value.exit_code == 2 and info.value.param == "hardware_compatibility" and "\n" not in str(info.value)
    assert not (tmp_path / "m.plan").exists()
    # the same TensorRT builds ampere_plus plans
    assert build_engine(model, tmp_path / "m.plan", max_batch=4, hardware_compatibility="ampere_plus").plan.exists()
