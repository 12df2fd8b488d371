"""benchmarks/serve_load.py's bookkeeping (not its timing): rounds pool into one row per mode,
ratios are against the in-process runner at the same concurrency, and the recorded Markdown
reaches benchmarks/README.md through update_readme like every other script's report."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from benchmarks import serve_load, update_readme


def test_clients_run_for_the_duration_and_rounds_pool_into_one_row() -> None:
    calls = []
    run = serve_load.run_clients(3, 0.2, lambda: (lambda: calls.append(time.sleep(0.001))))
    assert 0.19 < run["wall_s"] < 1.0 and len(run["latencies_ms"]) >= 3 and not run["errors"]
    assert len(calls) >= len(run["latencies_ms"]) + 3  # one warm-up call per client, outside the measurement
    row = serve_load.summarize_runs(3, [run, run])
    assert row["requests"] == 2 * len(run["latencies_ms"]) and row["rounds"] == 2
    assert row["throughput_rps"] == pytest.approx(row["requests"] / (2 * run["wall_s"]))
    assert set(row["latency_ms"]) == {"mean", "p50", "p90", "p99", "max"}


def test_a_failing_client_is_recorded_not_hidden() -> None:
    def make() -> object:
        state = {"n": 0}

        def call() -> None:
            state["n"] += 1
            if state["n"] > 1:
                raise ConnectionError("server went away")
        return call

    run = serve_load.run_clients(2, 0.1, make)
    assert run["errors"] and "server went away" in run["errors"][0]


def test_update_readme_includes_the_serve_load_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    device = tmp_path / "results" / "cpu-2core"
    device.mkdir(parents=True)
    rows = [{"model": "resnet20", "mode": mode, "concurrency": 1, "requests": 10, "throughput_rps": rps,
             "latency_ms": {"p50": 1.0, "p90": 2.0, "p99": 3.0}, "throughput_vs_in_process": rps / 100,
             "p50_vs_in_process": 1.0, "p50_added_ms": 0.0, "errors": []} for mode, rps in (("in-process", 100.0), ("grpc", 80.0))]
    data = {"kind": "serve-load", "environment": {"cpu": {"model": "Test CPU", "logical_cores": 2},
                                                  "library_versions": {"onnxruntime": "1.0"}},
            "cpu_isa": "avx2", "triton_server": "2.51.0", "pytriton": "0.7.0", "tritonclient": "2.73.0", "threads": 2,
            "max_queue_delay_us": 0, "duration_s": 6.0, "rounds": 3, "load_avg_1m": "0.1-0.2", "note": "",
            "command": "python benchmarks/serve_load.py", "rows": rows}
    (device / "serve_load.json").write_text(json.dumps(data))
    (device / "serve_load.md").write_text(serve_load.markdown(data))
    readme = tmp_path / "README.md"
    readme.write_text(f"# B\n\n{update_readme.START}\n{update_readme.END}\n")
    monkeypatch.setattr(update_readme, "ROOT", tmp_path)
    assert update_readme.main([]) == 0
    text = readme.read_text()
    assert "#### Serving cost" in text and "ISA avx2" in text
    assert "| resnet20 | grpc | 1 | 80.0 | 1.00 | 2.00 | 3.00 | 0.80 | 1.00 | +0.00 | 0 |" in text
    assert "- source: `results/cpu-2core/serve_load.md`" in text
