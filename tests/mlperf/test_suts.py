"""The SUTs' control flow with a stand-in for LoadGen's two calls (QuerySampleResponse,
QuerySamplesComplete): how each scenario batches, that every sample is answered once with the
right class from memory that is still valid when LoadGen reads it, and that failures and lost
samples become the run's fault instead of an exception inside LoadGen or a hang."""

from __future__ import annotations

import ctypes
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from resnet_deploy.mlperf.samples import SampleStore
from resnet_deploy.mlperf.suts import (
    Fault,
    HostExecutor,
    Ledger,
    LostSampleMonitor,
    Responder,
    ScenarioSUT,
)
from tests.mlperf.predictors import SumModel


@dataclass
class Sample:
    id: int
    index: int


class FakeLoadGen:
    """Records each response's bytes at the moment QuerySamplesComplete is called."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answers: dict[int, bytes] = {}
        self.calls: list[int] = []

    @staticmethod
    def QuerySampleResponse(id: int, pointer: int, size: int) -> tuple[int, bytes]:
        return id, ctypes.string_at(pointer, size)

    def QuerySamplesComplete(self, responses: list[tuple[int, bytes]]) -> None:
        with self.lock:
            self.calls.append(len(responses))
            for id_, data in responses:
                assert id_ not in self.answers, f"sample {id_} answered twice"
                self.answers[id_] = data


class Recorder:
    def __init__(self) -> None:
        self.faults: list[tuple[str, int]] = []

    def __call__(self, message: str, code: int) -> None:
        self.faults.append((message, code))


class Batches(SumModel):
    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.sizes.append(len(x))
        return super().predict(x)


@pytest.fixture
def store(tmp_path: Path) -> SampleStore:
    x = np.random.default_rng(0).standard_normal((40, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "samples.npy", x)
    store = SampleStore(tmp_path / "samples.npy")
    store.load(list(range(40)))
    return store


def _sut(scenario: str, store: SampleStore, model: SumModel, *, batch: int = 8, workers: int = 2,
         timeout_s: float = 0.05) -> tuple[ScenarioSUT, FakeLoadGen, Recorder, Ledger]:
    lg, faults, ledger = FakeLoadGen(), Recorder(), Ledger()
    fault = Fault(faults)
    executor = HostExecutor(model, store, Responder(lg, ledger), fault, workers=workers)
    sut = ScenarioSUT(scenario, executor, ledger, fault, batch_size=batch, batch_timeout_s=timeout_s)
    sut.start()
    return sut, lg, faults, ledger


def _wait(condition: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)


def _expected_class(store: SampleStore, index: int) -> int:
    return int(SumModel().predict(store.gather([index])).argmax())


def test_offline_splits_one_query_into_batches_on_the_workers(store: SampleStore) -> None:
    model = Batches()
    sut, lg, faults, ledger = _sut("Offline", store, model)
    samples = [Sample(1000 + i, i) for i in range(37)]
    sut.issue_queries(samples)
    _wait(lambda: len(lg.answers) == 37)
    sut.stop()
    assert sorted(model.sizes) == [5, 8, 8, 8, 8] and not faults.faults
    for sample in samples:
        assert np.frombuffer(lg.answers[sample.id], np.int32)[0] == _expected_class(store, sample.index)
    assert ledger.unheld() [0] == 0


def test_server_batcher_waits_for_a_fuller_batch_up_to_its_timeout(store: SampleStore) -> None:
    model = Batches()
    sut, lg, faults, _ = _sut("Server", store, model, batch=4, workers=1, timeout_s=0.2)
    started = time.monotonic()
    sut.issue_queries([Sample(1, 1)])
    sut.issue_queries([Sample(2, 2), Sample(3, 3)])  # arrive while the first waits: one batch
    _wait(lambda: len(lg.answers) == 3)
    waited = time.monotonic() - started
    sut.issue_queries([Sample(i, i) for i in range(10, 16)])  # a burst: a full batch at once, then the rest
    _wait(lambda: len(lg.answers) == 9)
    sut.stop()
    assert model.sizes[0] == 3 and 0.15 < waited < 2.0
    assert model.sizes[1:] == [4, 2] and not faults.faults


def test_single_and_multi_stream_run_inline_one_batch_per_query(store: SampleStore) -> None:
    model = Batches()
    sut, lg, _, _ = _sut("MultiStream", store, model)
    sut.issue_queries([Sample(i, i) for i in range(8)])
    assert model.sizes == [8] and len(lg.answers) == 8  # answered before issue_queries returned
    sut, lg, _, _ = _sut("SingleStream", store, model)
    sut.issue_queries([Sample(99, 5)])
    assert model.sizes[-1] == 1 and list(lg.answers) == [99]


def test_a_raising_predictor_is_a_fault_never_an_exception_into_loadgen(store: SampleStore) -> None:
    sut, lg, faults, _ = _sut("SingleStream", store, SumModel("raise", after=1))
    sut.issue_queries([Sample(1, 1)])
    sut.issue_queries([Sample(2, 2)])  # must not raise
    assert len(faults.faults) == 1 and "runtime broke down" in faults.faults[0][0] and faults.faults[0][1] == 1
    sut, lg, faults, _ = _sut("Offline", store, SumModel("drop", after=0))
    sut.issue_queries([Sample(i, i) for i in range(8)])
    _wait(lambda: bool(faults.faults))
    sut.stop()
    assert "would never be answered" in faults.faults[0][0] and not lg.answers


def test_samples_nothing_holds_any_more_are_reported_lost() -> None:
    ledger, faults = Ledger(), Recorder()
    monitor = LostSampleMonitor(ledger, Fault(faults), grace_s=0.2, interval_s=0.02)
    monitor.start()
    ledger.issued([Sample(1, 0), Sample(2, 1)])  # held by a queue: not lost, however long it takes
    time.sleep(0.4)
    assert not faults.faults
    ledger.answered([Sample(1, 0)])
    ledger.released(2)  # the batch is over, sample 2 was never answered
    _wait(lambda: bool(faults.faults), 3.0)
    monitor.stop()
    assert len(faults.faults) == 1 and "1 sample(s) were never answered" in faults.faults[0][0]


def test_store_loads_only_what_loadgen_names_contiguously(tmp_path: Path) -> None:
    x = np.arange(5 * 2 * 2 * 2, dtype=np.float32).reshape(5, 2, 2, 2)
    np.save(tmp_path / "s.npy", x)
    store = SampleStore(tmp_path / "s.npy")
    store.load([4, 1])
    assert store.loaded == 2
    np.testing.assert_array_equal(store.gather([1, 4, 1]), x[[1, 4, 1]])
    with pytest.raises(RuntimeError, match="did not load"):
        store.gather([0])
    out = np.empty((2, 2, 2, 2), np.float32)
    store.gather([4, 1], out=out)
    np.testing.assert_array_equal(out, x[[4, 1]])
    store.unload([4, 1])
    assert store.loaded == 0


def test_fault_reports_only_the_first_failure_even_from_many_threads() -> None:
    faults = Recorder()
    fault = Fault(faults)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: fault.report(f"failure {i}"), range(32)))
    assert len(faults.faults) == 1
