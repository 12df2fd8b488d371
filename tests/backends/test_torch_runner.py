"""TorchRunner: eager and channels_last really run here; CUDA paths skip without a GPU."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch import nn

from resnet_deploy.backends.base import DeviceTimingHooks
from resnet_deploy.backends.torch_runner import TorchRunner
from resnet_deploy.errors import ArtifactError, InvalidInputError, MissingDependencyError
from resnet_deploy.models import build_model

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device (this torch/machine has none)")


@pytest.fixture(scope="module")
def tiny() -> nn.Module:
    torch.manual_seed(0)
    return build_model("resnet20", num_classes=10).eval()


def _batch(n: int = 2, size: int = 32) -> dict[str, np.ndarray]:
    return {"input": np.random.default_rng(0).standard_normal((n, 3, size, size), dtype=np.float32)}


def _reference(model: nn.Module, feeds: dict[str, np.ndarray]) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.from_numpy(feeds["input"])).numpy()


def test_eager_matches_the_module(tiny: nn.Module) -> None:
    feeds = _batch()
    with TorchRunner(tiny, input_size=32, num_classes=10) as runner:
        assert runner.name == "torch"
        assert [t.name for t in runner.inputs()] == ["input"]
        assert runner.inputs()[0].shape == (None, 3, 32, 32)
        assert runner.outputs()[0].shape == (None, 10)
        out = runner.infer(feeds)["logits"]
        assert not isinstance(runner, DeviceTimingHooks)  # CPU: the harness must use the wall clock
    np.testing.assert_allclose(out, _reference(tiny, feeds), rtol=1e-5, atol=1e-5)


def test_channels_last_and_bf16_agree(tiny: nn.Module) -> None:
    feeds = _batch()
    expected = _reference(tiny, feeds)
    with TorchRunner(tiny, input_size=32, num_classes=10, channels_last=True) as runner:
        np.testing.assert_allclose(runner.infer(feeds)["logits"], expected, rtol=1e-4, atol=1e-4)
        assert runner.describe()["channels_last"] is True
    with TorchRunner(tiny, input_size=32, num_classes=10, precision="bf16") as runner:
        out = runner.infer(feeds)["logits"]
        from resnet_deploy import cpu_isa

        # says whether this CPU computes BF16 natively (avx512_bf16/AMX) or emulates it
        assert runner.describe()["bf16_native"] == (cpu_isa.detect_isa().bf16 is not None)
        # on the CPU the weights are stored in BF16 once (autocast would cast them on every call)
        assert runner.describe()["bf16_by"] == "weights"
    assert out.dtype == np.float32
    # the caller's module is untouched: still FP32, and gives the FP32 logits
    assert all(p.dtype == torch.float32 for p in tiny.parameters())
    np.testing.assert_allclose(_reference(tiny, feeds), expected, rtol=1e-5, atol=1e-5)
    assert (out.argmax(1) == expected.argmax(1)).mean() >= 0.5
    assert np.abs(out - expected).max() < 0.5 * np.abs(expected).max() + 0.1


def test_registry_name_and_backend_name() -> None:
    with TorchRunner("resnet20", backend="torch", threads=1) as runner:
        assert runner.model_name == "resnet20"
        assert runner.inputs()[0].shape == (None, 3, 32, 32)
        assert runner.infer(_batch(1))["logits"].shape == (1, 10)
    assert TorchRunner("resnet20", backend="torch-compile").name == "torch-compile"


def test_checkpoint_source(tmp_path: os.PathLike[str], tiny: nn.Module) -> None:
    from resnet_deploy.input_spec import default_input_spec
    from resnet_deploy.train.checkpoint import save_checkpoint

    path = save_checkpoint(os.path.join(tmp_path, "r20.safetensors"), tiny, model_name="resnet20",
                           model_kwargs={"num_classes": 10, "in_channels": 3},
                           input_spec=default_input_spec(3, 32, 10), dataset=None, epoch=1, metrics=None)
    feeds = _batch()
    with TorchRunner(path) as runner:
        assert runner.model_name == "resnet20"
        np.testing.assert_allclose(runner.infer(feeds)["logits"], _reference(tiny, feeds), rtol=1e-5, atol=1e-5)
    with pytest.raises(ArtifactError):
        TorchRunner(os.path.join(tmp_path, "missing.safetensors")).activate()


def test_bad_options_and_feeds(tiny: nn.Module) -> None:
    with pytest.raises(InvalidInputError, match="mode"):
        TorchRunner("resnet20", mode="jit")
    with pytest.raises(InvalidInputError, match="not a torch backend"):
        TorchRunner("resnet20", backend="ort-cpu")
    with pytest.raises(InvalidInputError, match="unknown model"):
        TorchRunner("resnet7").activate()
    with pytest.raises(InvalidInputError, match="input_size"):
        TorchRunner(tiny).activate()
    if not CUDA:
        with pytest.raises(MissingDependencyError, match="CUDA"):
            TorchRunner("resnet20", device="cuda")
        with pytest.raises(MissingDependencyError, match="CUDA"):
            TorchRunner("resnet20", backend="torch-cudagraph")
        with pytest.raises(InvalidInputError, match="fp16"):
            TorchRunner("resnet20", precision="fp16")
    with TorchRunner(tiny, input_size=32, num_classes=10) as runner:
        with pytest.raises(InvalidInputError, match="shape"):
            runner.infer(_batch(2, size=28))
        with pytest.raises(InvalidInputError, match="float32"):
            runner.infer({"input": _batch()["input"].astype(np.float64)})
        with pytest.raises(MissingDependencyError, match="cuda"):
            runner.stage(_batch())


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("RESNET_DEPLOY_SLOW_TESTS") != "1",
                    reason="torch.compile takes ~15 s on 2 CPU cores; set RESNET_DEPLOY_SLOW_TESTS=1 to run it")
def test_torch_compile_on_cpu() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5))
    feeds = {"input": np.random.default_rng(0).standard_normal((2, 3, 8, 8), dtype=np.float32)}
    with TorchRunner(model, input_size=8, num_classes=5, mode="compile") as runner:
        out = runner.infer(feeds)["logits"]
    np.testing.assert_allclose(out, _reference(model, feeds), rtol=1e-4, atol=1e-5)


# -- CUDA only ------------------------------------------------------------------------------
@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("options", [{}, {"precision": "fp16"}, {"precision": "bf16", "channels_last": True},
                                     {"backend": "torch-cudagraph"}])
def test_cuda_modes_agree_with_cpu(tiny: nn.Module, options: dict[str, object]) -> None:
    feeds = _batch(4)
    expected = _reference(tiny, feeds)
    with TorchRunner(tiny, input_size=32, num_classes=10, device="cuda", **options) as runner:  # type: ignore[arg-type]
        out = runner.infer(feeds)["logits"]
        again = runner.infer(feeds)["logits"]  # a replayed graph gives the same answer
    tolerance = 1e-3 if "precision" not in options else 0.1 * float(np.abs(expected).max()) + 0.05
    np.testing.assert_allclose(out, expected, atol=tolerance, rtol=0)
    np.testing.assert_array_equal(out, again)


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("backend", ["torch", "torch-cudagraph"])
def test_device_timing_hooks(tiny: nn.Module, backend: str) -> None:
    feeds = _batch(3)
    with TorchRunner(tiny, input_size=32, num_classes=10, device="cuda", backend=backend) as runner:
        assert isinstance(runner, DeviceTimingHooks)
        assert runner.stream != torch.cuda.default_stream().cuda_stream  # its own stream
        runner.stage(feeds, device_resident=True)
        for _ in range(3):  # enqueue without waiting, as the harness does
            runner.enqueue_compute()
            runner.enqueue_d2h()
        runner.synchronize()
        out = runner.fetch_outputs()["logits"]
    np.testing.assert_allclose(out, _reference(tiny, feeds), atol=1e-3, rtol=0)
