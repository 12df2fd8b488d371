"""`resnet-deploy mlperf` end to end with the real LoadGen, in short (not compliant) runs: the
four scenarios, accuracy mode scored equal to `accuracy`, MLPerf's results layout, and the
faults (a runner that raises, a runner that drops a sample) ending in one line and exit 1
within seconds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from resnet_deploy.cli import cli

ROOT = Path(__file__).resolve().parents[2]
SHORT = ["--quick", "--min-duration-s", "0.5", "--threads", "1"]


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "resnet_deploy", "mlperf", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, check=False)


@pytest.mark.slow  # four scenario processes, each importing torch through the runner: ~30 s on 2 shared cores
def test_all_four_scenarios_write_mlperf_results_layout(loadgen: object, digits_r20: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["mlperf", str(digits_r20), "--scenario", "all", "--dataset", "digits",
                                      "--limit", "200", "-o", str(out), "--json", *SHORT])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["kind"] == "mlperf" and data["compliant"] is False and "not a compliant run" in data["note"]
    assert [r["scenario"] for r in data["runs"]] == ["SingleStream", "MultiStream", "Server", "Offline"]
    for run in data["runs"]:
        folder = out / run["scenario"] / "performance" / "run_1"
        assert (folder / "mlperf_log_summary.txt").is_file() and (folder / "mlperf_log_detail.txt").is_file()
        assert run["result"] in ("VALID", "INVALID") and run["value"] > 0
        assert run["result"] == "VALID" or run["reasons"]  # LoadGen's reasons travel with an INVALID result
        assert not (folder / "mlperf_log_trace.json").is_file() or (folder / "mlperf_log_trace.json").stat().st_size == 0
    by_name = {r["scenario"]: r for r in data["runs"]}
    assert by_name["SingleStream"]["unit"] == "ms" and by_name["Offline"]["unit"] == "samples/s"
    assert by_name["MultiStream"]["settings"]["samples_per_query"] == 8
    conf = (out / "user.conf").read_text()
    assert "resnet50.*.min_duration = 500" in conf and "resnet50.Offline.target_qps" in conf
    assert len((out / "val_map.txt").read_text().splitlines()) == 200
    summary = (out / "summary.txt").read_text()
    assert "NOT A COMPLIANT RUN" in summary and "(not a compliant run)" in summary
    assert json.loads((out / "mlperf.json").read_text())["runs"] == data["runs"]


def test_accuracy_mode_top1_equals_the_accuracy_command(loadgen: object, digits_r20: Path, tmp_path: Path) -> None:
    from resnet_deploy.precision.accuracy import evaluate_accuracy

    out = tmp_path / "acc"
    result = CliRunner().invoke(cli, ["mlperf", str(digits_r20), "--scenario", "Offline", "--mode", "accuracy",
                                      "--dataset", "digits", "-o", str(out), "--json", *SHORT])
    assert result.exit_code == 0, result.output
    run = json.loads(result.output)["runs"][0]
    assert run["mode"] == "accuracy" and (out / "Offline" / "accuracy" / "mlperf_log_accuracy.json").is_file()
    copy = tmp_path / "copy.onnx"
    shutil.copyfile(digits_r20, copy)
    report = evaluate_accuracy([copy], dataset="digits", reference=digits_r20, record=False, threads=1)
    assert run["accuracy_samples"] == report.samples
    assert run["top1"] == pytest.approx(report.reference.top1, abs=1e-9)
    # MLPerf's reference script reads these: one `name label` per QSL index, int32 responses.
    records = json.loads((out / "Offline" / "accuracy" / "mlperf_log_accuracy.json").read_text())
    assert all(len(r["data"]) == 8 for r in records)
    labels = [int(line.split()[1]) for line in (out / "val_map.txt").read_text().splitlines()]
    predicted = {r["qsl_idx"]: int(np.frombuffer(bytes.fromhex(r["data"]), np.int32)[0]) for r in records}
    assert np.mean([predicted[i] == labels[i] for i in predicted]) * 100 == pytest.approx(run["top1"])


def test_a_raising_runner_ends_the_run_with_one_line_and_exit_1(loadgen: object, tmp_path: Path) -> None:
    started = time.monotonic()
    result = _cli("model", "--predictor", "tests.mlperf.predictors:raising", "--scenario", "Offline",
                  "--target-qps", "20000", "--batch-size", "4", "-o", str(tmp_path / "out"), *SHORT, timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(lines) == 1 and "Offline performance failed" in lines[0], result.stderr
    assert "ValueError: the runtime broke down on purpose" in lines[0] and "Traceback" not in result.stderr
    assert elapsed < 30
    recorded = json.loads((tmp_path / "out" / "mlperf.json").read_text())
    assert recorded["runs"][0]["result"] == "failed"


def test_a_runner_that_drops_a_sample_ends_the_run_at_once(loadgen: object, tmp_path: Path) -> None:
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["mlperf", "model", "--predictor", "tests.mlperf.predictors:dropping",
                                      "--scenario", "Server", "--target-qps", "500", "--batch-size", "4",
                                      "-o", str(tmp_path / "out"), *SHORT])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "Server performance failed" in errors[0] and "would never be answered" in errors[0]
    assert "Traceback" not in result.output
    assert time.monotonic() - started < 30


def test_a_hung_run_is_stopped_by_the_watchdog(loadgen: object, tmp_path: Path) -> None:
    from resnet_deploy.mlperf.run import run_one
    from resnet_deploy.mlperf.spec import ChildSpec

    spec = ChildSpec(scenario="Offline", mode="performance", user_conf="/nonexistent", log_dir=str(tmp_path),
                     status=str(tmp_path / "status.json"), samples=str(tmp_path / "none.npy"))
    # A process that never finishes stands in for a LoadGen waiting on a lost sample.
    original = subprocess.Popen

    def sleeper(args: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        return original([sys.executable, "-c", "import time; time.sleep(60)"], **kwargs)  # type: ignore[call-overload]

    import resnet_deploy.mlperf.run as run_module

    started = time.monotonic()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run_module.subprocess, "Popen", sleeper)
        code, status, error = run_one(spec, work=tmp_path, log_path=tmp_path / "log.txt", timeout_s=1.0)
    assert time.monotonic() - started < 10
    assert code == -9 and status is None and "watchdog stopped it" in error


def test_output_folder_problems_are_refused_before_loadgen_starts(loadgen: object, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = CliRunner().invoke(cli, ["mlperf", "model", "--predictor", "tests.mlperf.predictors:good",
                                      "-o", str(blocker / "out"), *SHORT])
    assert result.exit_code == 2 and "is a file" in result.output
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who may write anywhere")
        result = CliRunner().invoke(cli, ["mlperf", "model", "--predictor", "tests.mlperf.predictors:good",
                                          "-o", str(locked / "out"), *SHORT])
        assert result.exit_code == 2 and "not writable" in result.output
    finally:
        locked.chmod(0o700)


def test_bad_input_is_one_line_exit_2(loadgen: object, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["mlperf", "model", "--predictor", "tests.mlperf.predictors:good", "--mode", "accuracy",
                                 "-o", str(tmp_path / "a")])
    assert result.exit_code == 2 and "accuracy mode needs labelled images" in result.output
    result = runner.invoke(cli, ["mlperf", "model", "--scenario", "Bursty", "-o", str(tmp_path / "b")])
    assert result.exit_code == 2 and "unknown scenario 'Bursty'" in result.output
    result = runner.invoke(cli, ["mlperf", "m", "--server", "localhost", "-o", str(tmp_path / "c")])
    assert result.exit_code == 2 and "HOST:PORT" in result.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_without_loadgen_it_is_exit_3_with_the_install_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import resnet_deploy.optional as optional

    real = optional.is_installed
    monkeypatch.setattr(optional, "is_installed", lambda name: False if name == "mlperf_loadgen" else real(name))
    result = CliRunner().invoke(cli, ["mlperf", "model", "-o", str(tmp_path / "out")])
    assert result.exit_code == 3 and "mlcommons-loadgen" in result.output and "pip install" in result.output
