"""`resnet-deploy mlperf --server`: LoadGen's Server scenario through a real Triton server
started by `serve` (the session's shared server), answered over gRPC and HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from resnet_deploy.cli import cli
from tests.serving.conftest import SERVER_GROUP

pytestmark = pytest.mark.xdist_group(SERVER_GROUP)
pytest.importorskip("mlperf_loadgen", reason="LoadGen is not installed (pip install 'resnet-deploy[mlperf]')")
pytest.importorskip("tritonclient.grpc", reason="tritonclient is not installed (pip install 'resnet-deploy[serve]')")


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_server_scenario_through_triton(server: Any, tmp_path: Path, protocol: str) -> None:
    address = server.grpc_url if protocol == "grpc" else f"http://{server.http_url}"
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["mlperf", server.model_name, "--server", address, "--scenario", "Server",
                                      "--target-qps", "200", "--random", "64", "--quick", "--min-duration-s", "0.5",
                                      "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    run = data["runs"][0]
    assert data["server"] == f"{protocol}://{address.removeprefix('http://')}" and data["backend"] is None
    assert run["scenario"] == "Server" and run["result"] in ("VALID", "INVALID") and run["queries"] >= 500
    assert (out / "Server" / "performance" / "run_1" / "mlperf_log_detail.txt").is_file()
    assert data["sut"]["batch_size"] == 1  # one sample per request: Triton's dynamic batcher batches


def test_an_unknown_model_on_the_server_is_refused(server: Any, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["mlperf", "nope", "--server", server.grpc_url, "--random", "8", "--quick",
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "no ready model 'nope'" in result.output


@pytest.mark.slow  # two Server runs through Triton
def test_peak_through_triton_feeds_triton_repo(server: Any, r20_onnx: Path, tmp_path: Path) -> None:
    out = tmp_path / "peak"
    result = CliRunner().invoke(cli, ["mlperf", server.model_name, "--server", server.grpc_url, "--scenario", "Server",
                                      "--find-peak", "--peak-runs", "2", "--target-qps", "200", "--random", "64",
                                      "--latency-bound-ms", "500", "--quick", "--min-duration-s", "0.5", "-o", str(out),
                                      "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data["peak"]["tried"]) == 2 and data["sut"]["runner"]["dynamic_batching"] is not None
    if data["peak"]["peak_qps"] is None:
        pytest.skip("no VALID Server load on this (loaded) machine; the search itself ran")
    made = CliRunner().invoke(cli, ["triton-repo", str(r20_onnx), "-o", str(tmp_path / "repo"), "--mlperf",
                                    str(out / "mlperf.json"), "--json"])
    assert made.exit_code == 0, made.output
    model = json.loads(made.output)["models"][0]
    assert model["max_queue_delay_us"] == 500  # the served model's own batching held the peak: kept
    assert model["batching"]["budget_ms"] == 500
