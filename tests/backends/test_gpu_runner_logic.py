"""The GPU runners' logic that runs on a CPU: ort-trt's profile from the sweep, onnxruntime's
own CUDA-graph options, and the locks that make `infer` safe from many threads (checked with
stand-in sessions/stages that notice concurrent entry). The GPU-marked test at the end runs
the torch runners through the timing loop with an outer CUDA graph on a real GPU."""

from __future__ import annotations

import threading
import time
import types
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from resnet_deploy.backends.base import TensorInfo
from resnet_deploy.backends.onnxruntime_gpu import OnnxRuntimeGpuRunner, trt_profile_options
from resnet_deploy.backends.torch_runner import TorchRunner
from resnet_deploy.bench import BackendSpec, BenchConfig, Warmup, run_benchmark
from resnet_deploy.runtime import cuda as cuda_util
from tests.bench.helpers import FakeRunner
from tests.tensorrt.fake_trt import FakeCudart
from tests.tensorrt.helpers import conv_model


def test_trt_profile_covers_the_sweep() -> None:
    shapes = {"input": ("N", 3, 224, 224)}
    assert trt_profile_options(shapes, [1, 2, 4, 64, 256]) == {
        "trt_profile_min_shapes": "input:1x3x224x224",
        "trt_profile_opt_shapes": "input:32x3x224x224",
        "trt_profile_max_shapes": "input:256x3x224x224"}
    assert trt_profile_options(shapes, [8])["trt_profile_opt_shapes"] == "input:8x3x224x224"
    assert trt_profile_options({"input": ("N", 3, "H", "W")}, [1, 8]) == {}  # other dynamic axes: unknown sizes
    assert trt_profile_options({"input": (4, 3, 224, 224)}, [4]) == {}  # fixed batch: nothing to say
    assert trt_profile_options(shapes, []) == {}


@pytest.fixture
def fake_gpu_ort(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    ort = types.SimpleNamespace(get_available_providers=lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider",
                                                                 "CPUExecutionProvider"],
                                preload_dlls=lambda: print("preloaded"))
    monkeypatch.setattr("resnet_deploy.backends.onnxruntime_gpu._ort", lambda: ort)
    cudart = FakeCudart()
    monkeypatch.setattr(cuda_util, "cudart", lambda: cudart)
    return ort


def _options(providers: list[Any], name: str) -> dict[str, Any]:
    return next(options for entry in providers if isinstance(entry, tuple) for full, options in [entry] if full == name)


def test_ort_trt_session_gets_the_sweep_profile_and_its_own_graph_option(tmp_path: Path, fake_gpu_ort: Any) -> None:
    model = conv_model(tmp_path / "m.onnx", size=16)
    runner = OnnxRuntimeGpuRunner(model, provider="tensorrt", cuda_graph=True)
    runner.expect_batch_sizes([64, 1, 8])
    trt = _options(runner._providers(), "TensorrtExecutionProvider")
    assert trt["trt_profile_min_shapes"] == "input:1x3x16x16" and trt["trt_profile_max_shapes"] == "input:64x3x16x16"
    assert trt["trt_profile_opt_shapes"] == "input:32x3x16x16" and trt["trt_cuda_graph_enable"] is True
    runner._stream.close()
    explicit = OnnxRuntimeGpuRunner(model, provider="tensorrt",
                                    provider_options={"trt_profile_min_shapes": "input:2x3x16x16",
                                                      "trt_profile_opt_shapes": "input:2x3x16x16",
                                                      "trt_profile_max_shapes": "input:2x3x16x16"})
    explicit.expect_batch_sizes([1, 64])
    trt = _options(explicit._providers(), "TensorrtExecutionProvider")
    assert trt["trt_profile_max_shapes"] == "input:2x3x16x16"  # the user's profile wins
    explicit._stream.close()
    cuda = OnnxRuntimeGpuRunner(model, provider="cuda", cuda_graph=True)
    options = _options(cuda._providers(), "CUDAExecutionProvider")
    assert options["enable_cuda_graph"] is True and "trt_profile_min_shapes" not in options
    assert cuda.outer_cuda_graph_refusal and "enable_cuda_graph" in cuda.outer_cuda_graph_refusal
    assert cuda.serialized_reason is None and "cudaStreamSynchronize" in str(explicit.serialized_reason)
    cuda._stream.close()


def test_harness_tells_runners_the_sweep_before_activation() -> None:
    seen: list[Any] = []

    class Expecting(FakeRunner):
        def expect_batch_sizes(self, batches: list[int]) -> None:
            seen.append((list(batches), self.is_active))

    config = BenchConfig([BackendSpec("ort-cpu", label="fake")], batch_sizes=[1, 4], iterations=2, duration_s=None,
                         warmup=Warmup(iterations=0))
    run_benchmark(config, runner_factory=lambda spec, cfg: Expecting(limits=(1, 8)))
    assert seen == [([1, 4], False)]


class _Probe:
    """Notices when two threads are inside at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.inside += 1
            self.most = max(self.most, self.inside)

    def leave(self) -> None:
        with self._lock:
            self.inside -= 1


def test_ort_gpu_infer_is_serialized_and_correct_from_many_threads(tmp_path: Path) -> None:
    probe = _Probe()

    class Binding:
        def __init__(self) -> None:
            self.inputs: dict[str, np.ndarray] = {}
            self.result: list[np.ndarray] = []

        def bind_cpu_input(self, name: str, array: np.ndarray) -> None:
            self.inputs[name] = array

        def bind_output(self, name: str, device: str, device_id: int) -> None:
            pass

        def copy_outputs_to_cpu(self) -> list[np.ndarray]:
            return self.result

    class Session:
        def io_binding(self) -> Binding:
            return Binding()

        def run_with_iobinding(self, binding: Binding, options: Any = None) -> None:
            probe.enter()
            time.sleep(0.0005)
            binding.result = [binding.inputs["input"].reshape(len(binding.inputs["input"]), -1).sum(1, keepdims=True)]
            probe.leave()

    runner = OnnxRuntimeGpuRunner(tmp_path / "m.onnx", provider="cuda")
    runner.session = Session()
    runner._inputs = [TensorInfo("input", (None, 3, 2, 2), np.dtype(np.float32))]
    runner._outputs = [TensorInfo("logits", (None, 1), np.dtype(np.float32))]
    wrong: list[int] = []

    def work(worker: int) -> None:
        for i in range(worker, 400, 8):
            x = np.full((1 + i % 4, 3, 2, 2), float(i), np.float32)
            out = runner.infer({"input": x})["logits"]
            if out.shape != (len(x), 1) or not np.all(out == 12.0 * i):
                wrong.append(i)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    assert wrong == [] and probe.most == 1


def test_torch_cuda_infer_is_serialized(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CUDA path stages into shared buffers on one stream: calls must not interleave. The
    stages are stand-ins here (no CUDA); the locking is the runner's own."""
    probe = _Probe()
    runner = TorchRunner("resnet20", num_classes=10, in_channels=1)
    with runner:
        state: dict[str, Any] = {}

        def stage(feeds: Mapping[str, np.ndarray], *, device_resident: bool = False) -> None:
            probe.enter()
            state["x"] = feeds["input"]
            time.sleep(0.0005)

        def fetch() -> dict[str, np.ndarray]:
            out = {"logits": state["x"].reshape(len(state["x"]), -1)[:, :10].copy()}
            probe.leave()
            return out

        runner.device = "cuda"
        for name, value in {"stage": stage, "enqueue_h2d": lambda: None, "enqueue_compute": lambda: None,
                            "enqueue_d2h": lambda: None, "synchronize": lambda: None, "fetch_outputs": fetch}.items():
            monkeypatch.setattr(runner, name, value)
        wrong: list[int] = []

        def work(worker: int) -> None:
            for i in range(worker, 200, 8):
                x = np.full((1, 1, 32, 32), float(i), np.float32)
                if not np.all(runner.infer({"input": x})["logits"] == i):
                    wrong.append(i)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(work, range(8)))
        runner.device = "cpu"
    assert wrong == [] and probe.most == 1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (this torch/machine has none)")
@pytest.mark.parametrize("backend", ["torch", "torch-compile", "torch-cudagraph"])
def test_torch_runners_under_an_outer_cuda_graph(backend: str) -> None:
    """Warm-up happens in stage() (no lazy cuBLAS/cuDNN set-up or compilation inside the
    capture); torch-cudagraph is not captured again (no replay nested in a capture)."""
    from resnet_deploy.bench.timing import measure_gpu

    feeds = {"input": np.random.default_rng(0).standard_normal((4, 3, 32, 32), dtype=np.float32)}
    with TorchRunner("resnet20", num_classes=10, device="cuda", backend=backend, precision="fp16",
                     channels_last=True) as runner:
        m = measure_gpu([runner], feeds, warmup=Warmup(iterations=3), iterations=20, duration_s=None, cuda_graph=True)
        assert len(m.latency_ms) == 20 and all(v > 0 for v in m.compute_ms)
        assert any("outer capture was skipped" in note for note in m.notes) == (backend == "torch-cudagraph")
        runner.synchronize()
        expected = runner.infer(feeds)["logits"]
        assert np.isfinite(expected).all()
