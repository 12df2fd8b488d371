"""The pipeline's report reads as a verdict: each step's result is a sentence with its numbers
in their own precision (typed fields in pipeline.json), the accuracy step judges as
`resnet-deploy accuracy` does and fails the run when a model fails, skips are grouped by cause
with one install line per package, and benchmark warnings are one line per backend."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from resnet_deploy.cli import cli
from resnet_deploy.pipeline.skips import NO_GPU, Skip, group_skips
from resnet_deploy.pipeline.summaries import AccuracySummary, ModelVerdict, ValidationSummary
from resnet_deploy.render import percent, rate, significant

# A Python value dumped into a cell: True/False/None, a list, or "key: value; key: value".
REPR = re.compile(r"\b(True|False|None)\b|\[[^\]]*\]|\w+: [^;|]+; \w+: ")


def test_numbers_read_in_their_own_precision() -> None:
    assert significant(2.86e-06) == "2.9e-06" and significant(0.0) == "0" and significant(0.03125) == "0.031"
    assert percent(1.0) == "100%" and percent(0.996) == "99.6%" and percent(0.9996) == "99.96%"
    assert rate(424.7) == "425" and rate(2496.3) == "2,496" and rate(37.54) == "37.5"


def test_validation_and_accuracy_sentences() -> None:
    validation = ValidationSummary(True, "ort-cpu", "torch", 256, [1, 8], 2.86e-06, 5.7e-06, 0.9999999, 1.0,
                                   1e-4, 0.99999, 0.999)
    assert validation.sentence() == "passed: max error 2.9e-06 of the outputs' RMS on 256 images; top-1 agreement 100%"
    assert validation.to_dict()["max_error"] == 2.86e-06  # a number in pipeline.json, not a string
    failed = ValidationSummary(False, "ort-cpu", "torch", 256, [1], 0.031, 0.1, 0.99, 0.996, 1e-4, 0.99999, 0.999)
    assert failed.sentence().startswith("FAILED: max error 0.031 of the outputs' RMS on 256 images; top-1 "
                                        "agreement 99.6% (limits: max error 0.0001")
    ok = ModelVerdict("fp16", "fp16", 98.1, 0.0, -0.5, 1.06, 0.2, True, "inconclusive")
    bad = ModelVerdict("int8-cpu", "int8", 96.7, 1.39, 0.4, 2.5, 1.0, False, "fail")
    assert AccuracySummary(False, 360, 98.1, [ok, bad]).sentence() == (
        "FAILED: int8-cpu drops 1.39 points, over its 1-point limit on 360 images (FP32 top-1 98.10%)")
    assert AccuracySummary(True, 360, 98.1, [ok]).sentence() == (
        "passed: 1 model within its limit on 360 images (FP32 top-1 98.10%); largest drop +0.00 points (fp16, "
        "limit 0.2); too few images to resolve the limit of fp16")


def test_skips_group_by_cause_with_one_install_line_per_package() -> None:
    trt = "install it: pip install tensorrt"
    gpu = "install it: pip install onnxruntime-gpu"
    skips = [Skip("step", "tensorrt", NO_GPU, "tensorrt", trt), Skip("backend", "torch-cudagraph", NO_GPU),
             Skip("backend", "ort-cuda", NO_GPU, "onnxruntime-gpu", gpu),
             Skip("backend", "ort-trt", NO_GPU, "onnxruntime-gpu", gpu),
             Skip("backend", "tensorrt", NO_GPU, "tensorrt", trt),
             Skip("variant", "int8-cpu", "INT8 (cpu layout) refused: no calibration data")]
    groups, installs = group_skips(skips)
    assert [g.line() for g in groups] == [
        "step tensorrt; backends torch-cudagraph, ort-cuda, ort-trt, tensorrt: no NVIDIA GPU here",
        "variant int8-cpu: INT8 (cpu layout) refused: no calibration data"]
    assert [i.line() for i in installs] == [f"tensorrt (for step tensorrt; backend tensorrt): {trt}",
                                            f"onnxruntime-gpu (for backends ort-cuda, ort-trt): {gpu}"]


@dataclass
class Run:
    out: Path
    exit_code: int
    output: str
    report: str
    data: dict[str, Any]


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """A tiny run in which every INT8 model fails its precision's default limit: the limit is
    taken from `resnet-deploy accuracy`'s own table, set here to one no model can meet."""
    pytest.importorskip("onnxruntime")
    from resnet_deploy.precision import accuracy

    out = tmp_path_factory.mktemp("pipeline") / "run"
    args = ["pipeline", "--model", "resnet20", "--dataset", "digits", "--out", str(out), "--quick",
            "--batch-sizes", "2", "--bench-duration", "0.05", "--calib-samples", "8", "--eval-limit", "32",
            "--threads", "1", "--epochs", "1", "--train-limit", "96"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(accuracy.DEFAULT_MAX_DROP, "int8", -100.0)
        result = CliRunner().invoke(cli, args)
        yield Run(out, result.exit_code, result.output, (out / "report.md").read_text(),
                  json.loads((out / "pipeline.json").read_text()))


def _section(report: str, title: str) -> str:
    start = report.index(f"## {title}\n")
    end = report.find("\n## ", start + 1)
    return report[start:] if end < 0 else report[start:end]


def test_a_failing_model_fails_the_step_and_the_run(failing_run: Run) -> None:
    assert failing_run.exit_code == 1, failing_run.output
    steps = {s["name"]: s for s in failing_run.data["steps"]}
    assert steps["accuracy"]["status"] == "check-failed"
    assert failing_run.data["passed"] is False and failing_run.data["failed"][0].startswith("accuracy: ")
    assert steps["accuracy"]["result"].startswith("FAILED: int8-tensorrt drops ")
    assert "**Verdict: FAILED** (exit code 1) at accuracy" in failing_run.report
    models = {m["name"]: m for m in steps["accuracy"]["summary"]["models"]}
    assert models["int8-cpu"]["limit"] == -100.0 and models["int8-cpu"]["passed"] is False
    assert models["fp16"]["limit"] == 0.2  # the FP16 default still applies


def test_the_steps_table_is_sentences_not_python_values(failing_run: Run) -> None:
    table = _section(failing_run.report, "Steps")
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| step ")]
    assert len(rows) == len(failing_run.data["steps"])
    for row in rows:
        assert not REPR.search(row), row
    steps = {s["name"]: s for s in failing_run.data["steps"]}
    validation = steps["validate"]["summary"]
    assert isinstance(validation["max_error"], float) and isinstance(validation["images"], int)
    assert f"max error {significant(validation['max_error'])} of the outputs' RMS on 32 images" in table
    assert isinstance(steps["train"]["summary"]["images_per_second"], float)
    assert isinstance(steps["bench"]["summary"]["points"], int)


def test_the_accuracy_table_has_limits_and_results_as_the_command_judges(failing_run: Run) -> None:
    """Same models, same images: `resnet-deploy accuracy` gives the same limits and verdicts,
    and exits 1 too."""
    table = _section(failing_run.report, "Accuracy against FP32")
    assert "| limit | result |" in table
    assert re.search(r"\| model\.int8-cpu\.onnx \|.*\| -100\.00 \| FAIL \|", table)
    from resnet_deploy.precision import accuracy

    out = failing_run.out
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(accuracy.DEFAULT_MAX_DROP, "int8", -100.0)
        command = CliRunner().invoke(cli, ["accuracy", *(str(out / f"model.{v}.onnx") for v in
                                                         ("fp16", "int8-tensorrt", "int8-cpu")),
                                           "--reference", str(out / "model.onnx"), "--dataset", "digits",
                                           "--limit", "32", "--threads", "1", "--no-record", "--json"])
    assert command.exit_code == 1
    judged = json.loads(command.stdout)
    in_pipeline = failing_run.data["accuracy"]
    assert [(m["max_drop"], m["verdict"], m["drop_low"], m["drop_high"]) for m in judged["models"]] == [
        (m["max_drop"], m["verdict"], m["drop_low"], m["drop_high"]) for m in in_pipeline["models"]]
    assert '<th style="text-align:right">limit</th>' in (out / "report.html").read_text()


def test_skips_and_warnings_are_summarised(failing_run: Run) -> None:
    report = failing_run.report
    skipped = failing_run.data["skipped"]
    installs = {s["install"] for s in skipped if s["install"]}
    for line in installs:  # each package's install line once, however many things it would let run
        assert report.count(line) == 1, line
    if not any(s["cause"] == NO_GPU for s in skipped):
        pytest.skip("a GPU is visible: nothing is skipped for the lack of one")
    assert _section(report, "Skipped, and why").count(NO_GPU) == 1  # every GPU step and backend on one line
    bench = _section(report, "Benchmark")
    lines = bench.split("Warnings, one line per backend")[1].split("\n\n")[1].splitlines()
    labels = {b["label"] for b in failing_run.data["bench"]["backends"]}
    assert len(lines) <= len(labels) and "WARNING" not in bench
