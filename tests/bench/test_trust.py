"""Trust check: on onnxruntime CPU, the harness's median latency at batch 1 is within 5% of a
bare `session.run` loop timed in the same process, i.e. the harness adds almost nothing.

The CPU is shared, so the two are interleaved in short rounds and pooled, and a noisy attempt
is repeated (at most three); a harness that really added 5% would fail every attempt.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from resnet_deploy.bench import BackendSpec, BenchConfig, Warmup, run_benchmark
from tests.bench.helpers import tiny_onnx

ort = pytest.importorskip("onnxruntime")


def _project_runner(path: Path) -> Any:
    from resnet_deploy.backends.onnxruntime_runner import OnnxRuntimeRunner

    return OnnxRuntimeRunner(path, provider="cpu", threads=1)


def _bare_loop(session: Any, feeds: dict[str, np.ndarray], iterations: int) -> list[float]:
    for _ in range(5):
        session.run(None, feeds)
    times = []
    for _ in range(iterations):
        start = time.perf_counter_ns()
        session.run(None, feeds)
        times.append((time.perf_counter_ns() - start) / 1e6)
    return times


def test_harness_median_matches_a_bare_session_run_loop(tmp_path: Path) -> None:
    model = tiny_onnx(tmp_path / "tiny.onnx", size=64, width=32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    feeds = {"input": np.random.default_rng(0).standard_normal((1, 3, 64, 64), dtype=np.float32)}
    config = BenchConfig([BackendSpec("ort-cpu", artifact=model)], batch_sizes=[1], warmup=Warmup(iterations=5),
                         iterations=40, duration_s=None)
    ratios = []
    for _attempt in range(3):
        harness: list[float] = []
        bare: list[float] = []
        for _round in range(5):
            data = run_benchmark(config, runner_factory=lambda spec, cfg: _project_runner(model)).to_dict()
            harness.append(data["backends"][0]["results"][0]["latency_ms"]["median"])
            # a fresh session per round, as the harness opens a fresh runner per run: the two
            # differ only by the harness's own code, not by how warm the session's memory is
            session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
            bare.append(statistics.median(_bare_loop(session, feeds, 40)))
        ratio = statistics.median(harness) / statistics.median(bare)
        ratios.append(ratio)
        if abs(ratio - 1.0) <= 0.05:
            break
    assert abs(ratios[-1] - 1.0) <= 0.05, f"harness/bare median ratios per attempt: {ratios}"
