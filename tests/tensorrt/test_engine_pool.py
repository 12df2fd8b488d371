"""Engine's slot pool and shutdown, and the TensorRT runner from many threads, against the
stand-in TensorRT and CUDA runtime of tests/tensorrt/fake_trt.py (host memory posing as device
memory): the locking, ordering and freeing are the real code paths; only the kernels are fake."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from resnet_deploy.backends.tensorrt_runner import TensorRTRunner
from resnet_deploy.errors import CheckFailedError
from resnet_deploy.tensorrt import Engine
from tests.tensorrt.fake_trt import FakeCudart
from tests.tensorrt.helpers import install_fake_engine


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, FakeCudart, Any]:
    return install_fake_engine(tmp_path, monkeypatch)


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads as often as possible, so a missing lock shows up as wrong outputs."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _expected(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).sum(axis=1, dtype=np.float32)[:, None] * np.arange(1, 6, dtype=np.float32)


def _batch(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 3, 4, 4), dtype=np.float32)


def test_checkout_is_exclusive_and_close_waits_for_it(fake: Any) -> None:
    plan, cudart, _ = fake
    engine = Engine.load(plan, contexts=2)
    holding, release, closed = threading.Event(), threading.Event(), threading.Event()
    held: list[Any] = []

    def hold() -> None:
        with engine.checkout() as slot:
            held.append(slot)
            holding.set()
            release.wait(5)
            x = _batch(2, seed=1)
            np.testing.assert_allclose(slot.run({"input": x})["logits"], _expected(x), rtol=1e-5)

    def close() -> None:
        engine.close()
        closed.set()

    with ThreadPoolExecutor(2) as pool:  # .result() re-raises a worker's exception (its asserts included)
        holder = pool.submit(hold)
        assert holding.wait(5)
        with engine.checkout() as other:
            assert other is not held[0]  # the other thread's slot is never handed out twice
        closer = pool.submit(close)
        assert not closed.wait(0.3), "close() must wait while a thread uses a slot"
        release.set()
        holder.result(timeout=5)
        closer.result(timeout=5)
    assert closed.is_set()
    streams = {slot_stream for slot_stream in cudart.synchronized}
    assert len(streams) >= 2  # every slot's stream synchronized before its buffers went
    assert cudart.memory == {} and cudart.streams == {}
    with pytest.raises(RuntimeError, match="is closed"), engine.checkout():
        pass


def test_close_synchronizes_in_flight_requests_and_wait_then_raises(fake: Any) -> None:
    plan, cudart, _ = fake
    engine = Engine.load(plan)
    stream = engine._slots[0].stream.handle
    request = engine.infer_async({"input": _batch(3, seed=2)})
    cudart.synchronized.clear()
    engine.close()  # must not wait for the request's owner, but for the GPU work
    assert stream in cudart.synchronized and cudart.memory == {}
    with pytest.raises(RuntimeError, match="closed before this request was waited for"):
        request.wait()


def test_close_from_inside_a_checkout_is_refused(fake: Any) -> None:
    plan, _, _ = fake
    with Engine.load(plan) as engine, engine.checkout(), pytest.raises(RuntimeError, match="leave the checkout"):
        engine.close()


@pytest.mark.parametrize(("option", "match"), [("refuse_profile", "refused optimization profile 0"),
                                               ("refuse_address", "refused address")])
def test_refusals_are_one_line_and_free_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   option: str, match: str) -> None:
    plan, cudart, _ = install_fake_engine(tmp_path, monkeypatch, **{option: True})
    with pytest.raises(CheckFailedError, match=match) as info:
        Engine.load(plan)
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)
    assert cudart.memory == {} and cudart.streams == {}


@pytest.mark.parametrize("threads", [2, 8])
def test_runner_is_correct_from_many_threads(fake: Any, fast_switching: None, threads: int) -> None:
    """8 threads x 150 calls with distinct inputs and batch sizes on one runner: every output
    equals the single-thread reference (the calls are serialized on the one context)."""
    plan, _, trt = fake
    inputs = [_batch(1 + i % 8, seed=i) for i in range(threads * 150)]
    expected = [_expected(x) for x in inputs]
    wrong: list[int] = []
    with TensorRTRunner(plan) as runner:
        def work(worker: int) -> None:
            for i in range(worker, len(inputs), threads):
                out = runner.infer({"input": inputs[i]})["logits"]
                if out.shape != expected[i].shape or not np.allclose(out, expected[i], rtol=1e-5):
                    wrong.append(i)

        with ThreadPoolExecutor(threads) as pool:
            for done in [pool.submit(work, w) for w in range(threads)]:
                done.result()
        assert len(trt.calls["engine"].contexts) == 1
    assert wrong == []


def test_engine_pool_runs_threads_concurrently_and_correctly(fake: Any, fast_switching: None) -> None:
    plan, _, trt = fake
    inputs = [_batch(1 + i % 8, seed=100 + i) for i in range(400)]
    results: dict[int, np.ndarray] = {}
    with Engine.load(plan, contexts=3) as engine:
        def work(worker: int) -> None:
            for i in range(worker, len(inputs), 8):
                results[i] = engine(inputs[i])

        with ThreadPoolExecutor(8) as pool:
            for done in [pool.submit(work, w) for w in range(8)]:
                done.result()
        assert len(trt.calls["engine"].contexts) == 3
    for i, x in enumerate(inputs):
        np.testing.assert_allclose(results[i], _expected(x), rtol=1e-5)
