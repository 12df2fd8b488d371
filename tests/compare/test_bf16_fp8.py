"""BF16 and FP8 through `validate` and `accuracy`: judged by their own limits, named by the
precision that really ran, and a damaged model of each fails both commands (exit 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from resnet_deploy import cpu_isa
from resnet_deploy.cli import cli
from resnet_deploy.compare.stats import DEFAULT_TOLERANCES
from resnet_deploy.precision.accuracy import DEFAULT_MAX_DROP


def _run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stdout + result.stderr if result.exit_code else result.stdout


def test_fp8_model_validates_on_onnxruntime_with_its_own_limits(digits_onnx: Path, digits_fp8: Path) -> None:
    code, text = _run("validate", digits_fp8, "--reference", digits_onnx, "--dataset", "digits", "--limit", "96",
                      "--json")
    assert code == 0, text
    data = json.loads(text)
    assert data["precision"] == "fp8" and data["model"]["graph_precision"] == "fp8"
    assert data["tolerance"]["max_error"] == DEFAULT_TOLERANCES["fp8"].max_error
    # onnxruntime's level-2 rewrites would drop the Relus before FP8 QuantizeLinear (cosine ~0.1): turned off
    runner = next(r for label, r in data["runners"].items() if label.startswith("model"))
    assert runner["disabled_optimizers"] == ["Level2_RuleBasedTransformer"]
    assert min(c["outputs"]["logits"]["cosine"] for c in data["comparisons"]) > 0.99
    code, text = _run("accuracy", digits_fp8, "--reference", digits_onnx, "--dataset", "digits", "--no-record", "--json")
    assert code == 0, text
    row = json.loads(text)["models"][0]
    assert row["precision"] == "fp8" and row["max_drop"] == DEFAULT_MAX_DROP["fp8"]


def test_bf16_run_precision_on_openvino_names_what_ran(digits_onnx: Path) -> None:
    pytest.importorskip("openvino")
    code, text = _run("validate", digits_onnx, "--backend", "openvino", "--precision", "bf16", "--dataset", "digits",
                      "--limit", "64", "--json")
    assert code == 0, text
    data = json.loads(text)
    runner = next(r for label, r in data["runners"].items() if label.startswith("model"))
    ran = runner["openvino_precision"]["float_precision"]
    assert data["model"]["precision"] == ran == runner["precision"] and data["model"]["run_precision_asked"] == "bf16"
    if cpu_isa.detect_isa().bf16 is not None:  # native BF16: OpenVINO really computes in it
        assert ran == "bf16" and data["precision"] == "bf16" and runner["openvino_precision"]["hint"] == "bf16"
    code, text = _run("accuracy", digits_onnx, "--backend", "openvino", "--precision", "bf16", "--reference",
                      digits_onnx, "--dataset", "digits", "--no-record", "--json")
    assert code == 0, text
    report = json.loads(text)
    assert report["models"][0]["precision"] == ran and report["reference"]["precision"] == "fp32"
    assert report["machine"]["bf16"] == cpu_isa.detect_isa().bf16


def test_bf16_on_a_cpu_without_it_is_a_warning(digits_onnx: Path, monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("openvino")
    monkeypatch.setenv(cpu_isa.ENV_VAR, "avx2")  # play a CPU without avx512_bf16/AMX
    monkeypatch.setattr(cpu_isa, "_warned", set())
    code, text = _run("validate", digits_onnx, "--backend", "openvino", "--precision", "bf16", "--random", "4",
                      "--batch-sizes", "4")
    assert code == 0, text
    assert any("no BF16 instructions" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("args", "message"), [
    (["--precision", "bf16"], "backend 'ort-cpu' runs the precision its model holds"),
    (["--backend", "ort-cpu", "--precision", "fp16"], "backends that can: torch"),
])
def test_a_run_precision_the_backend_cannot_compute_is_refused(digits_onnx: Path, args: list[str],
                                                                message: str) -> None:
    code, text = _run("validate", digits_onnx, *args, "--random", "4")
    assert code == 2 and message in text and len(text.strip().splitlines()) == 1, text
    code, text = _run("accuracy", digits_onnx, "--reference", digits_onnx, "--dataset", "digits", *args)
    assert code == 2 and message in text, text


def test_bf16_graph_is_refused_by_onnxruntime_and_runs_on_openvino(digits_onnx: Path, digits_bf16: Path) -> None:
    code, text = _run("validate", digits_bf16, "--reference", digits_onnx, "--random", "4")
    assert code == 2 and "no BF16 convolution" in text and "openvino" in text, text
    pytest.importorskip("openvino")
    code, text = _run("validate", digits_bf16, "--backend", "openvino", "--reference", digits_onnx, "--dataset",
                      "digits", "--limit", "64", "--json")
    assert code == 0, text
    assert json.loads(text)["model"]["graph_precision"] == "bf16"


@pytest.mark.parametrize(("damaged", "backend"), [("damaged_fp8", "ort-cpu"), ("damaged_bf16", "openvino")])
def test_a_damaged_bf16_or_fp8_model_fails_validate_and_accuracy(damaged: str, backend: str, digits_onnx: Path,
                                                                 request: pytest.FixtureRequest) -> None:
    if backend == "openvino":
        pytest.importorskip("openvino")
    model = request.getfixturevalue(damaged)
    code, text = _run("validate", model, "--backend", backend, "--reference", digits_onnx, "--dataset", "digits",
                      "--limit", "96")
    assert code == 1 and "FAIL" in text, text
    code, text = _run("accuracy", model, "--backend", backend, "--reference", digits_onnx, "--dataset", "digits",
                      "--no-record")
    assert code == 1 and "FAIL" in text and "top-1 drop" in text, text
