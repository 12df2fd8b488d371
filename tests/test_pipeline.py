"""The README's main job, tiny: the pipeline runs end to end in tmp_path, writes its report
and artifacts, reports what it skipped and why, and exits 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from resnet_deploy.cli import cli

pytest.importorskip("onnxruntime")



def test_pipeline_tiny_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["pipeline", "--model", "resnet20", "--dataset", "digits", "--out", str(out), "--quick",
            "--batch-sizes", "2", "--bench-duration", "0.05", "--calib-samples", "8", "--eval-limit", "32",
            "--threads", "1", "--epochs", "1", "--train-limit", "96"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert (out / "report.html").read_text().startswith("<!doctype html>")
    data = json.loads((out / "pipeline.json").read_text())
    status = {s["name"]: s["status"] for s in data["steps"]}
    assert status == {"train": "done", "export": "done", "validate": "done",
                      "precision": "done", "accuracy": "done", "tensorrt": status["tensorrt"], "bench": "done"}
    for name in ("model.onnx", "model.onnx.json", "model.fp16.onnx", "model.int8-tensorrt.onnx", "model.int8-cpu.onnx",
                 "bench.json", "bench_throughput.png", "bench_latency.png"):
        assert (out / name).is_file(), name
    assert "## Accuracy against FP32" in report and "## Benchmark" in report
    assert "## Training" in report and (out / "train" / "best.safetensors").is_file()
    assert "![throughput](bench_throughput.png)" in report
    labels = {b["label"] for b in data["bench"]["backends"] if b["results"]}
    assert {"ort-cpu fp32", "ort-cpu int8-cpu"} <= labels
    from resnet_deploy.optional import tensorrt_module

    if tensorrt_module() is None:
        assert status["tensorrt"] == "skipped"
        assert "| tensorrt | skipped |" in report and "TensorRT is not installed" in report
        assert "step tensorrt; backends " in report  # grouped with the backends skipped for the same cause


def test_pipeline_refuses_a_file_as_output(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = CliRunner().invoke(cli, ["pipeline", "--out", str(target), "--quick"])
    assert result.exit_code == 2
    assert "is not a folder" in result.output


def test_step_log_records_done_skipped_failed_and_check_failed() -> None:
    from resnet_deploy.errors import ArtifactError, CheckFailedError
    from resnet_deploy.pipeline.steps import SkipStep, StepLog

    messages: list[str] = []
    steps = StepLog(messages.append)
    with steps.step("a", "first"):
        pass
    with steps.step("b", "second"):
        raise SkipStep("TensorRT: not installed")
    with steps.step("c", "third"):
        raise ArtifactError("bad plan")
    with steps.step("d", "fourth"):
        raise CheckFailedError("drop 3 points")
    steps.skip("e", "needs c")
    assert [(s["name"], s["status"], s["reason"]) for s in steps.to_list()] == [
        ("a", "done", None), ("b", "skipped", "TensorRT: not installed"), ("c", "failed", "bad plan"),
        ("d", "check-failed", "drop 3 points"), ("e", "skipped", "needs c")]
    assert [s.name for s in steps.failed] == ["c", "d"]
    assert any("CHECK FAILED" in m for m in messages)
    with pytest.raises(RuntimeError), steps.step("f", "a bug keeps its traceback"):
        raise RuntimeError("bug")


def test_report_html_renders_the_markdown_it_is_made_from() -> None:
    """The report's HTML is its Markdown rendered by markdown-it-py (render.markdown_to_html):
    escaped text, code, right-aligned number columns, lists and images."""
    from resnet_deploy import render
    from resnet_deploy.pipeline import report

    assert report.markdown_to_html is render.markdown_to_html
    page = report.markdown_to_html("# Title\n\nText with `code` & <tag>.\n\n| a | b |\n|---|---:|\n| 1 | 2 |\n\n"
                                   "- one\n- two\n\n![plot](bench_throughput.png)\n", title="t")
    assert "<h1>Title</h1>" in page
    assert "<p>Text with <code>code</code> &amp; &lt;tag&gt;.</p>" in page
    assert '<th style="text-align:right">b</th>' in page and '<td style="text-align:right">2</td>' in page
    assert "<li>one</li>" in page and "<li>two</li>" in page
    assert '<img src="bench_throughput.png" alt="plot" />' in page
