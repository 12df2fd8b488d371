"""`validate` and `accuracy` from the command line: the issue's examples work, and a
deliberately damaged FP16 or INT8 model fails both commands (exit 1, FAIL printed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from resnet_deploy.cli import cli


def _run(*args: object) -> tuple[int, str]:
    """(exit code, stdout); stderr holds the one error line when there is one."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stdout + result.stderr if result.exit_code else result.stdout


def test_validate_examples(digits_onnx: Path, digits_int8: Path) -> None:
    pytest.importorskip("openvino")
    code, text = _run("validate", digits_int8, "--backend", "openvino", "--reference", digits_onnx,
                      "--dataset", "digits", "--limit", "64")
    assert code == 0, text
    assert "on openvino" in text and "on ort-cpu" in text and "PASS" in text
    code, text = _run("validate", digits_onnx, "--backend", "openvino", "--dataset", "digits", "--limit", "64", "--json")
    assert code == 0, text
    data = json.loads(text)
    assert data["model"]["backend"] == "openvino" and data["reference"]["backend"] == "torch"


@pytest.mark.parametrize("damaged", ["damaged_fp16", "damaged_int8"])
def test_a_damaged_model_fails_validate_and_accuracy(damaged: str, digits_onnx: Path,
                                                     request: pytest.FixtureRequest) -> None:
    model = request.getfixturevalue(damaged)
    code, text = _run("validate", model, "--reference", digits_onnx, "--dataset", "digits", "--limit", "96")
    assert code == 1 and "FAIL" in text, text
    code, text = _run("accuracy", model, "--reference", digits_onnx, "--dataset", "digits", "--no-record")
    assert code == 1 and "FAIL" in text and "top-1 drop" in text, text


def test_accuracy_judges_each_precision_by_its_default_limit(digits_onnx: Path, digits_fp16: Path) -> None:
    code, text = _run("accuracy", digits_fp16, "--reference", digits_onnx, "--dataset", "digits", "--no-record", "--json")
    row = json.loads(text)["models"][0]
    assert row["precision"] == "fp16" and row["max_drop"] == 0.2
    # Whether FP16 loses an image of the 360 depends on the CPU's FP16 kernels (one image is
    # 0.28 points, over the 0.2 limit): the verdict and the exit code must follow the limit.
    assert row["passed"] == (row["drop"] <= 0.2), text
    assert code == (0 if row["passed"] else 1), text


def test_accuracy_on_another_runtime_names_it(digits_onnx: Path, digits_int8: Path) -> None:
    pytest.importorskip("openvino")
    result = CliRunner().invoke(cli, ["accuracy", str(digits_int8), "--backend", "openvino", "--reference",
                                      str(digits_onnx), "--dataset", "digits", "--no-record", "--json"])
    data = json.loads(result.stdout)
    assert data["machine"]["backend"] == "openvino" and data["machine"]["reference_backend"] == "openvino"
    assert data["models"][0]["backend"] == "openvino" and data["machine"]["cpu"] and data["machine"]["isa"]
    assert result.exit_code == 0, result.stderr


def test_accuracy_of_two_models_with_the_same_file_name(digits_onnx: Path, digits_fp16: Path, tmp_path: Path) -> None:
    import shutil

    other = tmp_path / digits_fp16.name
    shutil.copy(digits_fp16, other)
    code, text = _run("accuracy", digits_fp16, other, "--reference", digits_onnx, "--dataset", "digits", "--limit", "64",
                      "--no-record", "--json")
    assert code == 0, text
    assert [row["model"] for row in json.loads(text)["models"]] == [str(digits_fp16), str(other)]
