from __future__ import annotations

import json
from pathlib import Path

import pytest

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.precision import evaluate_accuracy


def test_accuracy_report_against_reference(fp32_model: Path, fp16_model: Path, int8_trt_model: Path,
                                           eval_npz: Path) -> None:
    report = evaluate_accuracy([fp16_model, int8_trt_model], dataset=str(eval_npz), reference=fp32_model,
                               max_drop=50.0)
    assert report and report.samples == 48
    assert report.reference.top1 == 100.0 and report.reference.top1_agreement == 100.0
    fp16, int8 = report.models
    assert (fp16.precision, int8.precision) == ("fp16", "int8")
    assert fp16.top1 == fp16.top1_agreement  # labels are the reference's predictions
    assert fp16.drop == pytest.approx(100.0 - fp16.top1) and fp16.drop <= 5.0
    assert fp16.cosine > 0.999 and int8.cosine > 0.95
    data = report.to_dict()
    assert data["passed"] and {"top1", "top5", "top1_agreement", "cosine", "drop"} <= set(data["models"][0])
    sidecar = json.loads(Path(str(fp16_model) + ".json").read_text())
    assert sidecar["accuracy"]["dataset"] == str(eval_npz) and sidecar["accuracy"]["top1"] == round(fp16.top1, 3)


def test_accuracy_fails_when_a_drop_exceeds_max(fp32_model: Path, other_model: Path, eval_npz: Path) -> None:
    report = evaluate_accuracy([other_model], dataset=str(eval_npz), reference=fp32_model, max_drop=1.0,
                               record=False)
    assert not report
    assert report.models[0].drop > 1.0 and "top-1 drop" in report.failures[0]


def test_accuracy_refuses_bad_input(fp32_model: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="at least one model"):
        evaluate_accuracy([], dataset="digits", reference=fp32_model)
    with pytest.raises(InvalidInputError, match="does not exist"):
        evaluate_accuracy([fp32_model], dataset=str(tmp_path / "none.npz"), reference=fp32_model)


def test_accuracy_on_a_dataset_reader(fp32_model: Path, fp16_model: Path) -> None:
    pytest.importorskip("sklearn")
    report = evaluate_accuracy([fp16_model], dataset="digits", reference=fp32_model, limit=64, record=False)
    assert report.samples == 64 and 0.0 <= report.models[0].top1 <= 100.0
