"""Every CPU runner is safe to call from many threads: 8 threads x 1,000 calls with distinct
inputs give exactly the single-thread outputs, and a second round does not grow memory.

(One OpenVINO infer request shared by 8 threads gave wrong logits on 14,056 of 16,000 calls
before the runner kept a pool of requests.)"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from resnet_deploy.backends.base import Runner

THREADS = 8
CALLS_PER_THREAD = 1000
SIZE = 8  # a resnet20 at 8x8 pixels: every layer runs, each call takes well under a millisecond
RSS_GROWTH_LIMIT = 32 * 2**20


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * 4096


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from resnet_deploy.export import export_onnx

    path = tmp_path_factory.mktemp("threads") / "r20_8px.onnx"
    export_onnx(path, model="resnet20", input_size=SIZE)
    return path


def _ort(path: Path) -> Runner:
    from resnet_deploy.backends.onnxruntime_runner import OnnxRuntimeRunner

    return OnnxRuntimeRunner(path, threads=1)


def _openvino(path: Path) -> Runner:
    pytest.importorskip("openvino")
    from resnet_deploy.backends.openvino_runner import OpenVinoRunner

    return OpenVinoRunner(path, threads=1)


def _torch(path: Path) -> Runner:
    """A small conv net: PyTorch's per-layer Python overhead would make 24,000 resnet20 calls
    take a minute on 2 cores, and the runner's thread safety does not depend on depth."""
    import torch
    from torch import nn

    from resnet_deploy.backends.torch_runner import TorchRunner

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)).eval()
    return TorchRunner(net, input_size=SIZE, num_classes=10, threads=1)


@pytest.mark.parametrize("make", [_ort, _openvino, _torch], ids=["ort-cpu", "openvino", "torch"])
def test_many_threads_give_the_single_thread_outputs(make: Callable[[Path], Runner], tiny_onnx: Path) -> None:
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((THREADS * CALLS_PER_THREAD, 1, 3, SIZE, SIZE), dtype=np.float32)
    with make(tiny_onnx) as runner:
        name = runner.inputs()[0].name
        reference = np.stack([runner.infer({name: x})["logits"] for x in inputs])

        def worker(thread: int) -> int:
            wrong = 0
            for i in range(thread, len(inputs), THREADS):
                if not np.array_equal(runner.infer({name: inputs[i]})["logits"], reference[i]):
                    wrong += 1
            return wrong

        rounds = []
        for _ in range(2):
            with ThreadPoolExecutor(THREADS) as pool:
                wrong = sum(pool.map(worker, range(THREADS)))
            rounds.append((wrong, _rss_bytes()))
    assert [wrong for wrong, _ in rounds] == [0, 0], f"wrong outputs per round: {rounds}"
    growth = rounds[1][1] - rounds[0][1]
    assert growth < RSS_GROWTH_LIMIT, f"resident memory grew {growth / 2**20:.1f} MiB in the second round"
