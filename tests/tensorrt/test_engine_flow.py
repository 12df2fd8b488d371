"""Engine / TensorRTRunner buffer, stream, pool and CUDA-graph logic against a stand-in TensorRT
and CUDA runtime that compute on host memory (tests/tensorrt/fake_trt.py): the shapes, byte
counts, copies and replays are the real code paths; only the kernels are fake."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from resnet_deploy.backends.base import DeviceTimingHooks
from resnet_deploy.backends.tensorrt_runner import TensorRTRunner
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.tensorrt import Engine
from tests.tensorrt.fake_trt import FakeCudart
from tests.tensorrt.helpers import install_fake_engine


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, FakeCudart, Any]:
    return install_fake_engine(tmp_path, monkeypatch)


def _expected(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).sum(axis=1, dtype=np.float32)[:, None] * np.arange(1, 6, dtype=np.float32)


def _batch(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 3, 4, 4), dtype=np.float32)


def test_engine_runs_batches_of_every_size_in_the_profile(fake: Any) -> None:
    plan, cudart, _ = fake
    with Engine.load(plan) as engine:
        assert engine.batch_limits() == (1, 8)
        assert [t.name for t in engine.inputs] == ["input"] and engine.outputs[0].shape == (None, 5)
        for n in (1, 3, 8, 2):
            x = _batch(n, seed=n)
            np.testing.assert_allclose(engine(x), _expected(x), rtol=1e-5)
        with pytest.raises(InvalidInputError, match=r"batch 9 is outside the plan's profile: it accepts batch 1\.\.8"):
            engine(_batch(9))
        request = engine.infer_async({"input": _batch(4, seed=7)})
        assert request.done()
        np.testing.assert_allclose(request.wait()["logits"], _expected(_batch(4, seed=7)), rtol=1e-5)
    assert cudart.memory == {} and cudart.streams == {}  # every buffer and stream freed


def test_threads_share_a_pool_of_contexts(fake: Any) -> None:
    plan, _, trt = fake
    results: dict[int, np.ndarray] = {}
    with Engine.load(plan, contexts=2) as engine:
        def work(i: int) -> None:
            results[i] = engine(_batch(1 + i % 8, seed=i))

        with ThreadPoolExecutor(8) as pool:  # .result() re-raises a worker's exception
            for done in [pool.submit(work, i) for i in range(8)]:
                done.result()
        assert len(trt.calls["engine"].contexts) == 2
    for i, out in results.items():
        np.testing.assert_allclose(out, _expected(_batch(1 + i % 8, seed=i)), rtol=1e-5)


def test_cuda_graphs_replay_with_fresh_inputs(fake: Any) -> None:
    plan, _, _ = fake
    with Engine.load(plan, cuda_graphs=True) as engine:
        first, second = _batch(4, seed=1), _batch(4, seed=2)
        np.testing.assert_allclose(engine(first), _expected(first), rtol=1e-5)
        np.testing.assert_allclose(engine(second), _expected(second), rtol=1e-5)  # replayed graph, new data
        slot = engine._slots[0]
        assert len(slot.graphs) == 1
        engine(_batch(2))
        assert len(slot.graphs) == 2  # one graph per shape


def test_runner_timing_hooks(fake: Any) -> None:
    plan, _, _ = fake
    x = _batch(5, seed=3)
    runner = TensorRTRunner(plan)
    assert not isinstance(runner, DeviceTimingHooks)
    with runner:
        assert isinstance(runner, DeviceTimingHooks) and runner.stream > 0
        assert runner.batch_limits() == (1, 8)
        runner.stage({"input": x}, device_resident=True)
        for _ in range(3):
            runner.enqueue_compute()
            runner.enqueue_d2h()
        runner.synchronize()
        np.testing.assert_allclose(runner.fetch_outputs()["logits"], _expected(x), rtol=1e-5)
        y = _batch(5, seed=4)
        runner.stage({"input": y})
        runner.enqueue_h2d()
        runner.enqueue_compute()
        runner.enqueue_d2h()
        runner.synchronize()
        np.testing.assert_allclose(runner.fetch_outputs()["logits"], _expected(y), rtol=1e-5)
        np.testing.assert_allclose(runner.infer({"input": x})["logits"], _expected(x), rtol=1e-5)
        assert runner.describe()["batch_limits"] == [1, 8]
