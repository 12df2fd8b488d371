"""Engine.load / TensorRTRunner error paths: plan problems exit 2 before TensorRT is touched,
a missing TensorRT exits 3, a plan for another TensorRT or GPU exits 2 before deserializing."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

from resnet_deploy.backends.base import TensorInfo
from resnet_deploy.backends.tensorrt_runner import TensorRTRunner
from resnet_deploy.errors import ArtifactError, InvalidInputError, MissingDependencyError
from resnet_deploy.optional import tensorrt_module
from resnet_deploy.runtime import cuda as cuda_util
from resnet_deploy.tensorrt import Engine
from tests.tensorrt.helpers import fake_plan

no_tensorrt = pytest.mark.skipif(tensorrt_module() is not None, reason="TensorRT is installed here")


def test_missing_or_corrupt_plan_is_exit_2(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist") as info:
        Engine.load(tmp_path / "nope.plan")
    assert info.value.exit_code == 2
    plan = fake_plan(tmp_path)
    plan.write_bytes(b"garbage")
    with pytest.raises(ArtifactError, match="sha256") as info:
        Engine.load(plan)
    assert info.value.exit_code == 2
    with pytest.raises(ArtifactError):
        TensorRTRunner(tmp_path / "nope.plan").activate()


@no_tensorrt
def test_valid_plan_without_tensorrt_is_exit_3(tmp_path: Path) -> None:
    with pytest.raises(MissingDependencyError) as info:
        Engine.load(fake_plan(tmp_path))
    assert info.value.exit_code == 3
    message = str(info.value)
    assert "TensorRT" in message and "pip install" in message and "\n" not in message
    runner = TensorRTRunner(fake_plan(tmp_path, "b.plan"))
    with pytest.raises(MissingDependencyError):
        runner.activate()
    assert not runner.is_active


@pytest.mark.parametrize(("version", "gpu", "match"), [
    ("10.14.1.48", ("NVIDIA RTX A6000", "8.6"), "built with TensorRT 10.13.0.35 but TensorRT 10.14.1.48"),
    ("10.13.0.35", ("NVIDIA H100 80GB HBM3", "9.0"), r"compute capability 8.6\) but this GPU is a NVIDIA H100"),
])
def test_mismatched_plan_is_refused_before_deserializing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         version: str, gpu: tuple[str, str], match: str) -> None:
    fake_trt = types.SimpleNamespace(__version__=version, Runtime=None, Builder=None)
    monkeypatch.setattr("resnet_deploy.runtime.engine.require_tensorrt", lambda purpose: fake_trt)
    monkeypatch.setattr(cuda_util, "gpu_properties", lambda device=0: cuda_util.GpuProperties(0, gpu[0], gpu[1], 8 << 30))

    def never(purpose: str) -> None:
        raise AssertionError("TensorRT must not be used for a mismatched plan")

    monkeypatch.setattr("resnet_deploy.runtime.trt.require_tensorrt", never)
    with pytest.raises(ArtifactError, match=match) as info:
        Engine.load(fake_plan(tmp_path))
    assert info.value.exit_code == 2


def test_batch_outside_the_profile_names_the_range() -> None:
    engine = Engine.__new__(Engine)  # the shape rules need no GPU: set just what check_shapes reads
    engine.path = Path("r50.plan")
    engine.profile = {"input": ((1, 3, 32, 32), (8, 3, 32, 32), (16, 3, 32, 32))}
    engine.inputs = [TensorInfo("input", (None, 3, 32, 32), np.dtype(np.float32))]
    assert engine.check_feeds({"input": np.zeros((4, 3, 32, 32), np.float32)}) == 4
    with pytest.raises(InvalidInputError, match=r"batch 17 is outside the plan's profile: it accepts batch 1\.\.16") as info:
        engine.check_feeds({"input": np.zeros((17, 3, 32, 32), np.float32)})
    assert info.value.exit_code == 2
    with pytest.raises(InvalidInputError, match="outside the plan's profile"):
        engine.check_feeds({"input": np.zeros((2, 3, 64, 64), np.float32)})
    with pytest.raises(InvalidInputError, match="must be float32"):
        engine.check_feeds({"input": np.zeros((2, 3, 32, 32), np.float64)})
    with pytest.raises(InvalidInputError, match="takes inputs"):
        engine.check_feeds({"image": np.zeros((2, 3, 32, 32), np.float32)})


def test_cuda_call_checks_every_result() -> None:
    ok = types.SimpleNamespace(value=0, name="cudaSuccess")
    assert cuda_util.cuda_call((ok,)) is None
    assert cuda_util.cuda_call((ok, 7)) == 7
    assert cuda_util.cuda_call((ok, 1, 2)) == (1, 2)
    with pytest.raises(MissingDependencyError, match="no CUDA-capable GPU"):
        cuda_util.cuda_call((types.SimpleNamespace(value=100, name="cudaErrorNoDevice"), 0), "cudaGetDeviceCount")
    with pytest.raises(cuda_util.CudaError, match="cudaMalloc failed with cudaErrorMemoryAllocation"):
        cuda_util.cuda_call((types.SimpleNamespace(value=2, name="cudaErrorMemoryAllocation"), 0), "cudaMalloc")


def test_close_all_frees_everything_then_raises_the_first_error() -> None:
    closed: list[str] = []

    class Resource:
        def __init__(self, name: str, fail: bool = False) -> None:
            self.name, self.fail = name, fail

        def close(self) -> None:
            closed.append(self.name)
            if self.fail:
                raise RuntimeError(f"{self.name} failed")

    with pytest.raises(RuntimeError, match="c failed"):
        cuda_util.close_all([Resource("a"), Resource("b", fail=True), Resource("c", fail=True)])
    assert closed == ["c", "b", "a"]
