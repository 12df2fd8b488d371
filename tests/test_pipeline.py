"""The README's main job, tiny: the pipeline runs end to end in tmp_path, writes its report
and artifacts, reports what it skipped and why, and exits 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from resnet_deploy.cli import cli

pytest.importorskip("onnxruntime")


def _has_training() -> bool:
    try:
        from resnet_deploy.train import TrainConfig, train  # noqa: F401
    except ImportError:
        return False
    return True


def _untrained_checkpoint(path: Path) -> Path:
    from resnet_deploy.data import load_dataset
    from resnet_deploy.models import build_model
    from resnet_deploy.train.checkpoint import save_checkpoint

    _, info = load_dataset("digits", "train")
    model = build_model("resnet20", num_classes=10, in_channels=1)
    return save_checkpoint(path, model, model_name="resnet20", model_kwargs={"num_classes": 10, "in_channels": 1},
                           input_spec=info.input_spec, dataset="digits", epoch=0, metrics={})


def test_pipeline_tiny_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["pipeline", "--model", "resnet20", "--dataset", "digits", "--out", str(out), "--quick",
            "--batch-sizes", "2", "--bench-duration", "0.05", "--calib-samples", "8", "--eval-limit", "32",
            "--threads", "1"]
    trains = _has_training()
    if trains:
        args += ["--epochs", "1", "--train-limit", "96"]
    else:  # training is not in this build: start from a checkpoint, and the report must say so
        args += ["--checkpoint", str(_untrained_checkpoint(tmp_path / "r20.safetensors"))]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert (out / "report.html").read_text().startswith("<!doctype html>")
    data = json.loads((out / "pipeline.json").read_text())
    status = {s["name"]: s["status"] for s in data["steps"]}
    assert status == {"train": "done" if trains else "skipped", "export": "done", "validate": "done",
                      "precision": "done", "accuracy": "done", "tensorrt": status["tensorrt"], "bench": "done"}
    for name in ("model.onnx", "model.onnx.json", "model.fp16.onnx", "model.int8-tensorrt.onnx", "model.int8-cpu.onnx",
                 "bench.json", "bench_throughput.png", "bench_latency.png"):
        assert (out / name).is_file(), name
    assert "## Accuracy against FP32" in report and "## Benchmark" in report
    if trains:
        assert "## Training" in report and (out / "train" / "best.safetensors").is_file()
    assert "![throughput](bench_throughput.png)" in report
    labels = {b["label"] for b in data["bench"]["backends"] if b["results"]}
    assert {"ort-cpu fp32", "ort-cpu int8-cpu"} <= labels
    from resnet_deploy.optional import tensorrt_module

    if tensorrt_module() is None:
        assert status["tensorrt"] == "skipped"
        assert "tensorrt: skipped: TensorRT: not installed" in report


def test_pipeline_refuses_a_file_as_output(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = CliRunner().invoke(cli, ["pipeline", "--out", str(target), "--quick"])
    assert result.exit_code == 2
    assert "is not a folder" in result.output
