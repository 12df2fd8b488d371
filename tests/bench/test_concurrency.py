"""`bench --concurrency`: N callers in flight on a CPU runner, throughput and latency per
concurrency in the same table, CSV, JSON, plots and bench-compare."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from resnet_deploy.backends.base import Runner, TensorInfo
from resnet_deploy.bench.config import Warmup, parse_concurrency
from resnet_deploy.bench.timing import measure_cpu_concurrent
from resnet_deploy.cli import cli
from resnet_deploy.errors import InvalidInputError
from tests.bench.helpers import tiny_onnx


class SleepyRunner(Runner):
    """Each call sleeps 20 ms (releasing the GIL, as runtimes do) and counts calls in flight."""

    name = "sleepy"

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0

    def _activate(self) -> None: ...

    def _deactivate(self) -> None: ...

    def inputs(self) -> list[TensorInfo]:
        return [TensorInfo("input", (None, 3, 4, 4), np.dtype(np.float32))]

    def outputs(self) -> list[TensorInfo]:
        return [TensorInfo("logits", (None, 2), np.dtype(np.float32))]

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        time.sleep(0.02)
        with self.lock:
            self.in_flight -= 1
        return {"logits": np.zeros((len(feeds["input"]), 2), np.float32)}


def test_callers_overlap_and_throughput_counts_them_all() -> None:
    feeds = {"input": np.zeros((2, 3, 4, 4), np.float32)}
    one = measure_cpu_concurrent(SleepyRunner(), feeds, 1, warmup=Warmup(iterations=1), iterations=None,
                                 duration_s=0.3, min_iterations=5)
    runner = SleepyRunner()
    four = measure_cpu_concurrent(runner, feeds, 4, warmup=Warmup(iterations=1), iterations=None, duration_s=0.3,
                                  min_iterations=5)
    assert runner.most == 4 and four.concurrency == 4 and one.concurrency == 1
    rate_one, rate_four = one.iterations / one.wall_s, four.iterations / four.wall_s
    assert rate_four > 2.5 * rate_one  # four sleeping callers overlap
    assert all(15 < ms < 200 for ms in four.latency_ms)


def test_a_failing_caller_fails_the_measurement() -> None:
    class Broken(SleepyRunner):
        def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            raise RuntimeError("broken runtime")

    with pytest.raises(RuntimeError, match="broken runtime"):
        measure_cpu_concurrent(Broken(), {"input": np.zeros((1, 3, 4, 4), np.float32)}, 2,
                               warmup=Warmup(iterations=0), iterations=5, duration_s=None, min_iterations=1)


def test_parse_concurrency() -> None:
    assert parse_concurrency("4,1,2,2") == (1, 2, 4) and parse_concurrency(None) == (1,)
    for bad in ("0", "a", ""):
        with pytest.raises(InvalidInputError, match="concurrency"):
            parse_concurrency(bad)


def test_bench_reports_each_concurrency_in_every_output(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    model = tiny_onnx(tmp_path / "tiny.onnx", size=16)
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["bench", "--onnx", str(model), "--batch-sizes", "1,2", "--concurrency", "1,2",
                                      "--warmup", "2", "--iterations", "6", "--threads", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.startswith("backend"))
    assert "callers" in header
    data = json.loads((out / "bench.json").read_text())
    rows = data["backends"][0]["results"]
    assert [(r["batch"], r.get("concurrency", 1)) for r in rows] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert data["config"]["concurrency"] == [1, 2]
    assert (out / "bench.csv").read_text().splitlines()[0].endswith(",concurrency")
    compared = CliRunner().invoke(cli, ["bench-compare", str(out / "bench.json"), str(out / "bench.json")])
    assert compared.exit_code == 0 and "2 callers" in compared.output, compared.output
    assert (out / "throughput.png").stat().st_size > 0
    bad = CliRunner().invoke(cli, ["bench", "--onnx", str(model), "--concurrency", "0", "--iterations", "3"])
    assert bad.exit_code == 2 and "concurrency" in bad.output
