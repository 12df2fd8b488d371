"""The export / validate / inspect commands: exit codes, one-line errors, --json output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from resnet_deploy.cli import cli
from resnet_deploy.export import inspect as inspect_module


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_export_validate_inspect_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "r20.onnx"
    code, text = _invoke("export", "--depth", "20", "--family", "cifar", "--exporter", "torchscript", "-o", str(out), "--json")
    assert code == 0, text
    assert json.loads(text[text.index("{"):])["metadata"]["architecture"] == "resnet20"

    code, text = _invoke("validate", str(out), "--random", "4", "--batch-sizes", "1,3", "--json")
    assert code == 0, text
    report = json.loads(text)
    assert report["passed"] and [p["batch_size"] for p in report["comparisons"]] == [1, 3]

    code, text = _invoke("validate", str(out), "--random", "2", "--batch-sizes", "2", "--max-error", "0",
                         "--min-cosine", "1")
    assert code == 1 and "FAIL" in text and "validation failed" in text

    code, text = _invoke("validate", str(out), "--random", "2", "--batch-sizes", "2", "--per-layer")
    assert code == 0 and "all 20 paired layers agree" in text

    code, text = _invoke("inspect", str(out), "--json")
    assert code == 0
    data = json.loads(text)
    assert data["inputs"][0]["shape"] == ["batch", 3, 32, 32] and data["external_data"] == []
    assert data["op_histogram"]["Conv"] == 19 and data["metadata"]["architecture"] == "resnet20"
    code, text = _invoke("inspect", str(out))
    assert code == 0 and "MACs per image" in text and "10 classes" in text


def test_graph_macs_match_the_model_definition(r18_dynamo: Path) -> None:
    from resnet_deploy.models import model_cost

    report = inspect_module.inspect_onnx(r18_dynamo)
    assert report["macs_per_image"] == model_cost("resnet18", 32).macs
    assert not report["macs_unknown_nodes"]
    # BN folding turns 4 BN tensors per channel into one conv bias, so the graph holds fewer.
    assert 0.99 * model_cost("resnet18", 32).params < report["parameters"] <= model_cost("resnet18", 32).params


def test_inspect_says_batchnorm_was_folded_and_gives_the_unfolded_count(r18_dynamo: Path, tmp_path: Path) -> None:
    from resnet_deploy.models import model_cost
    from tests.bench.helpers import tiny_onnx

    report = inspect_module.inspect_onnx(r18_dynamo)
    assert report["batchnorm"] == {"nodes": 0, "folded": True, "unfolded_parameters": model_cost("resnet18").params}
    code, text = _invoke("inspect", str(r18_dynamo))
    assert code == 0
    line = next(line for line in text.splitlines() if line.startswith("parameters:"))
    assert f"{report['parameters']:,}" in line and "BatchNorm folded" in line and "11,689,512" in line
    assert text.splitlines()[3].split() == ["tensor", "name", "dtype", "shape"]  # every column named
    foreign = inspect_module.inspect_onnx(tiny_onnx(tmp_path / "foreign.onnx"))
    assert foreign["batchnorm"]["folded"] is False and foreign["batchnorm"]["unfolded_parameters"] is None


def test_unfolded_count_follows_the_exported_head_and_channels() -> None:
    from resnet_deploy.models import model_cost

    assert inspect_module.definition_parameters("resnet20", {"num_classes": 10, "in_channels": 3}) == \
        model_cost("resnet20").params
    custom = inspect_module.definition_parameters("resnet20", {"num_classes": 7, "in_channels": 1})
    assert custom == model_cost("resnet20", num_classes=7, in_channels=1).params
    backbone = inspect_module.definition_parameters("resnet20", {"num_classes": 10}, features=True)
    assert backbone == model_cost("resnet20").params - (64 * 10 + 10)  # no fc in a backbone export
    assert inspect_module.definition_parameters("not-a-model", {}) is None


@pytest.mark.parametrize(("args", "code", "message"), [
    (["export", "--depth", "20", "--family", "cifar", "-o", "{tmp}/missing/m.onnx"], 2, "does not exist"),
    (["export", "--depth", "20", "--family", "cifar", "--opset", "99", "-o", "{tmp}/m.onnx"], 2, "opset 99"),
    (["export", "--depth", "7"], 2, "no imagenet ResNet of depth 7"),
    (["export", "--model", "resnet20", "--batch", "x", "-o", "{tmp}/m.onnx"], 2, "--batch"),
    (["validate", "{tmp}/bad.onnx"], 2, "not a valid ONNX model"),
    (["inspect", "{tmp}/bad.onnx"], 2, "not a valid ONNX model"),
    (["inspect", "{tmp}/none.onnx"], 2, "does not exist"),
    (["inspect", "{tmp}/none.plan"], 2, "does not exist"),
])
def test_bad_input_is_one_line(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage" * 10)
    exit_code, text = _invoke(*[a.format(tmp=tmp_path) for a in args])
    assert exit_code == code, text
    assert message in text and "Traceback" not in text
    assert not (tmp_path / "m.onnx").exists()
