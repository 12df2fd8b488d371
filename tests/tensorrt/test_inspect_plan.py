"""`resnet-deploy inspect r50.plan`: the per-layer report from the plan's sidecar, anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from resnet_deploy.cli import cli
from resnet_deploy.errors import ArtifactError
from resnet_deploy.runtime.inspector import parse_engine_information
from resnet_deploy.sidecar import sidecar_path
from resnet_deploy.tensorrt.inspect_plan import format_plan_report, plan_report
from tests.tensorrt.helpers import engine_json, fake_plan


def test_report_from_the_sidecar(tmp_path: Path) -> None:
    layers = parse_engine_information(engine_json(["int8", "fp32", "int8"])).to_dict()
    plan = fake_plan(tmp_path, "r50_int8.plan", precision="int8", layers=layers)
    report = plan_report(plan)
    assert report["tensorrt_version"] == "10.13.0.35" and report["precision"] == "int8"
    assert report["convolution_precision_counts"] == {"fp32": 1, "int8": 2}
    assert report["layers"][1] == {"name": "/conv1/Conv + /relu/Relu", "type": "CaskConvolution", "precision": "int8",
                                   "convolution": True, "tactic": report["layers"][1]["tactic"]}
    assert report["runs_here"]["checked"] in (False, True)
    text = format_plan_report(report)
    assert "TensorRT 10.13.0.35 on NVIDIA RTX A6000 (compute capability 8.6)" in text
    assert "profile input: min [1, 3, 224, 224]" in text
    assert "convolutions by precision: fp32 1, int8 2" in text
    assert "/layer1/layer1.1/conv1/Conv + /layer1/layer1.1/relu/Relu" in text
    header = next(line for line in text.splitlines() if line.lstrip().startswith("#"))
    assert header.split() == ["#", "layer", "type", "precision", "convolution", "tactic"]  # every column named


def test_inspect_command_dispatches_plans(tmp_path: Path) -> None:
    plan = fake_plan(tmp_path)
    result = CliRunner().invoke(cli, ["inspect", str(plan)])
    assert result.exit_code == 0, result.output
    assert "precision: fp16" in result.output and "CaskConvolution" in result.output
    result = CliRunner().invoke(cli, ["inspect", str(plan), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["precision_check"]["ok"] is True
    plan.write_bytes(b"changed")
    result = CliRunner().invoke(cli, ["inspect", str(plan)])
    assert result.exit_code == 2 and "sha256" in result.output


@pytest.mark.parametrize(("edit", "where"), [
    ({"layers": "garbage"}, "layers"),
    ({"layers": {"layers": [{"name": "conv", "inputs": 7}]}}, "layers.layers.0.inputs"),
    ({"profile": {"input": {"min": [1, 3], "opt": "x", "max": [8, 3]}}}, "profile.input.opt"),
    ({"io_tensors": [{"name": "input", "mode": "sideways", "dtype": "float32", "shape": [-1]}]}, "io_tensors.0.mode"),
    ({"gpu": ["NVIDIA"]}, "gpu"),
    ({"version_compatible": "perhaps"}, "version_compatible"),
])
def test_hand_edited_sidecar_is_one_line_exit_2(tmp_path: Path, edit: dict[str, object], where: str) -> None:
    """The plan is untouched (its sha256 still matches): only the sidecar was edited by hand."""
    plan = fake_plan(tmp_path)
    sidecar = sidecar_path(plan)
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), **edit}))
    before = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(cli, ["inspect", str(plan)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert f"{sidecar.name}' is not valid: {where}" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    with pytest.raises(ArtifactError, match=f"is not valid: {where}"):
        plan_report(plan)
