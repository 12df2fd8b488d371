"""NVIDIA's harness design on the project's Engine, with the stand-in TensorRT and CUDA of
tests/tensorrt (they compute on host memory, so the buffers, copies, graph replays and the
answers read from the pinned output buffer are the real code paths): each stream worker holds
its own slot, batches are gathered into the slot's pinned input, one CUDA graph is captured
per batch size, and LoadGen is answered from the slot's host output rows. The last test runs
the real LoadGen in this process (no FromConfig: pitfall 1) against the stand-in engine."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from resnet_deploy.mlperf.gpu_sut import EngineExecutor
from resnet_deploy.mlperf.samples import SampleStore
from resnet_deploy.mlperf.suts import Fault, Ledger, LostSampleMonitor, Responder, ScenarioSUT
from resnet_deploy.tensorrt import Engine
from tests.mlperf.test_suts import FakeLoadGen, Recorder, Sample
from tests.tensorrt.helpers import install_fake_engine


@pytest.fixture
def plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    plan, _, _ = install_fake_engine(tmp_path, monkeypatch)
    return plan


@pytest.fixture
def store(tmp_path: Path) -> SampleStore:
    x = np.random.default_rng(1).standard_normal((30, 3, 4, 4)).astype(np.float32)
    np.save(tmp_path / "samples.npy", x)
    store = SampleStore(tmp_path / "samples.npy")
    store.load(list(range(30)))
    return store


def _logits(store: SampleStore, index: int) -> np.ndarray:
    x = store.gather([index])
    return x.reshape(1, -1).sum(axis=1, dtype=np.float32)[:, None] * np.arange(1, 6, dtype=np.float32)


@pytest.mark.parametrize("scenario", ["Offline", "Server"])
def test_stream_workers_answer_from_their_host_buffers(plan: Path, store: SampleStore, scenario: str) -> None:
    lg, faults, ledger = FakeLoadGen(), Recorder(), Ledger()
    fault = Fault(faults)
    with Engine.load(plan, contexts=2, cuda_graphs=True) as engine:
        executor = EngineExecutor(engine, store, Responder(lg, ledger), fault, streams=2)
        sut = ScenarioSUT(scenario, executor, ledger, fault, batch_size=8, batch_timeout_s=0.01)
        sut.start()
        samples = [Sample(500 + i, i) for i in range(30)]
        sut.issue_queries(samples)
        deadline = time.monotonic() + 10
        while len(lg.answers) < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        sut.stop()
        graphs = {key for slot in engine._slots for key in slot.graphs}
    assert not faults.faults and len(lg.answers) == 30
    for sample in samples:  # each answer is the sample's logits row, read while LoadGen was being told
        np.testing.assert_allclose(np.frombuffer(lg.answers[sample.id], np.float32), _logits(store, sample.index)[0],
                                   rtol=1e-6)
    sizes = {key[0][0] for key in graphs}
    assert sizes and sizes <= set(range(1, 9)) and ledger.unheld()[0] == 0
    if scenario == "Offline":
        assert 8 in sizes and 6 in sizes  # 30 = 8 + 8 + 8 + 6: one graph per batch size


def test_inline_scenarios_check_out_a_slot_per_query(plan: Path, store: SampleStore) -> None:
    lg, faults, ledger = FakeLoadGen(), Recorder(), Ledger()
    fault = Fault(faults)
    with Engine.load(plan, contexts=1, cuda_graphs=False) as engine:
        sut = ScenarioSUT("MultiStream", EngineExecutor(engine, store, Responder(lg, ledger), fault, streams=1),
                          ledger, fault, batch_size=8)
        sut.start()
        sut.issue_queries([Sample(i, i) for i in range(8)])
        sut.issue_queries([Sample(100, 9)])
        sut.stop()
    assert len(lg.answers) == 9 and not faults.faults
    np.testing.assert_allclose(np.frombuffer(lg.answers[100], np.float32), _logits(store, 9)[0], rtol=1e-6)


def test_a_batch_outside_the_profile_is_a_fault_not_a_hang(plan: Path, store: SampleStore) -> None:
    lg, faults, ledger = FakeLoadGen(), Recorder(), Ledger()
    fault = Fault(faults)
    with Engine.load(plan, contexts=1) as engine:
        sut = ScenarioSUT("MultiStream", EngineExecutor(engine, store, Responder(lg, ledger), fault, streams=1),
                          ledger, fault, batch_size=16)
        sut.issue_queries([Sample(i, i) for i in range(12)])  # the profile stops at 8
    assert len(faults.faults) == 1 and "outside the plan's profile" in faults.faults[0][0]


def test_a_plan_output_short_of_the_batch_is_the_runs_fault(plan: Path, store: SampleStore,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan's rows are checked and answered by the same Responder.answer_batch as a
    predictor's: a short output is the run's one fault, and the batch is released either way."""
    lg, faults, ledger = FakeLoadGen(), Recorder(), Ledger()
    fault = Fault(faults)
    with Engine.load(plan, contexts=1, cuda_graphs=False) as engine:
        executor = EngineExecutor(engine, store, Responder(lg, ledger), fault, streams=1)
        compute = executor._compute
        monkeypatch.setattr(executor, "_compute", lambda slot, samples: compute(slot, samples)[:-1])
        sut = ScenarioSUT("MultiStream", executor, ledger, fault, batch_size=8)
        sut.issue_queries([Sample(i, i) for i in range(8)])
        sut.stop()
    assert len(faults.faults) == 1 and not lg.answers
    message = faults.faults[0][0]
    assert "the plan ('logits') returned output of shape (7, 5)" in message and "1 sample(s) would never be answered" in message
    assert ledger.unheld()[0] == 8  # released: nothing holds them, so the monitor reports them lost


def test_real_loadgen_drives_the_engine_sut(plan: Path, store: SampleStore, tmp_path: Path) -> None:
    lg: Any = pytest.importorskip("mlperf_loadgen", reason="LoadGen is not installed")
    faults, ledger = Recorder(), Ledger()
    fault = Fault(faults)
    out = tmp_path / "logs"
    out.mkdir()
    with Engine.load(plan, contexts=2, cuda_graphs=True) as engine:
        sut = ScenarioSUT("Offline", EngineExecutor(engine, store, Responder(lg, ledger), fault, streams=2), ledger,
                          fault, batch_size=8)
        monitor = LostSampleMonitor(ledger, fault)
        sut.start()
        monitor.start()
        settings = lg.TestSettings()  # no FromConfig in a shared process: LoadGen's defaults, set by hand
        settings.scenario = lg.TestScenario.Offline
        settings.mode = lg.TestMode.AccuracyOnly
        settings.offline_expected_qps = 1000
        handle = lg.ConstructSUT(sut.issue_queries, sut.flush_queries)
        qsl = lg.ConstructQSL(store.count, store.count, lambda i: store.load(list(i)), lambda i: store.unload(list(i)))
        log_settings = lg.LogSettings()
        log_settings.log_output.outdir = str(out)
        log_settings.enable_trace = False
        try:
            lg.StartTestWithLogSettings(handle, qsl, settings, log_settings, "")
        finally:
            monitor.stop()
            sut.stop()
            lg.DestroyQSL(qsl)
            lg.DestroySUT(handle)
    import json

    records = json.loads((out / "mlperf_log_accuracy.json").read_text())
    assert not faults.faults and len({r["qsl_idx"] for r in records}) == store.count and store.loaded == 0
    x = np.load(tmp_path / "samples.npy")
    expected = x.reshape(len(x), -1).sum(axis=1, dtype=np.float32)[:, None] * np.arange(1, 6, dtype=np.float32)
    for record in records:
        np.testing.assert_allclose(np.frombuffer(bytes.fromhex(record["data"]), np.float32),
                                   expected[record["qsl_idx"]], rtol=1e-6)
