"""`mlperf --scenario Server --find-peak`: the search brackets and bisects the VALID/INVALID
boundary, a real search writes a result, and `triton-repo --mlperf` takes its batching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from resnet_deploy.cli import cli
from resnet_deploy.mlperf.peak import search
from resnet_deploy.mlperf.result import ScenarioRun


def _fake(limit: float) -> tuple[list[float], object]:
    asked: list[float] = []

    def run_at(qps: float, index: int) -> ScenarioRun:
        asked.append(qps)
        return ScenarioRun(scenario="Server", mode="performance", result="VALID" if qps <= limit else "INVALID",
                           log_dir=f"try{index}")
    return asked, run_at


@pytest.mark.parametrize(("start", "limit"), [(100.0, 730.0), (1000.0, 130.0), (50.0, 50.0)])
def test_search_finds_the_largest_valid_qps_within_ten_percent(start: float, limit: float) -> None:
    asked, run_at = _fake(limit)
    peak, tried = search(run_at, start, max_runs=12)  # type: ignore[arg-type]
    assert peak is not None and peak <= limit and peak >= limit / 1.1 - 1e-9
    assert [q for q, _ in tried] == asked


def test_search_with_nothing_valid_reports_none() -> None:
    _, run_at = _fake(0.0)
    peak, tried = search(run_at, 100.0, max_runs=3)  # type: ignore[arg-type]
    assert peak is None and [q for q, _ in tried] == [100.0, 50.0, 25.0]


def test_find_peak_result_drives_triton_repo_batching(loadgen: object, tmp_path: Path, digits_r20: Path) -> None:
    out = tmp_path / "peak"
    result = CliRunner().invoke(cli, ["mlperf", "m", "--predictor", "tests.mlperf.predictors:good", "--scenario",
                                      "Server", "--find-peak", "--peak-runs", "2", "--target-qps", "400",
                                      "--batch-size", "4", "--batch-timeout-ms", "1.5", "--latency-bound-ms", "200",
                                      "--quick", "--min-duration-s", "0.5", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    peak = data["peak"]
    assert [t["qps"] for t in peak["tried"]] == [400.0, 800.0] and peak["latency_bound_ms"] == 200
    assert peak["peak_qps"] in (400.0, 800.0) and data["runs"][0]["result"] == "VALID"
    assert (out / "Server" / "performance" / "run_1" / "mlperf_log_detail.txt").is_file()
    assert f"resnet50.Server.target_qps = {peak['peak_qps']:g}" in (out / "user.conf").read_text()
    repo = tmp_path / "repo"
    made = CliRunner().invoke(cli, ["triton-repo", str(digits_r20), "-o", str(repo), "--mlperf", str(out / "mlperf.json"),
                                    "--json"])
    assert made.exit_code == 0, made.output
    model = json.loads(made.output)["models"][0]
    assert model["preferred_batch_sizes"] == [4] and model["max_queue_delay_us"] == 1500
    assert "max_queue_delay_microseconds: 1500" in (repo / "r20_digits" / "config.pbtxt").read_text()


def test_triton_repo_refuses_a_result_without_a_peak(tmp_path: Path, digits_r20: Path) -> None:
    from resnet_deploy.mlperf.result import MlperfResult

    plain = tmp_path / "mlperf.json"
    plain.write_text(MlperfResult(model="m", samples="x", sample_count=1, compliant=False).model_dump_json())
    made = CliRunner().invoke(cli, ["triton-repo", str(digits_r20), "-o", str(tmp_path / "repo"), "--mlperf", str(plain)])
    assert made.exit_code == 2 and "not a peak search" in made.output
