"""Every command accepts the same models in the same way (export.artifact): ONNX ResNets made
by another exporter, without resnet-deploy's metadata, one NHWC (a Transpose at the input, as
TensorFlow exports them) and one with a dynamic height and width.

Both hold the seeded untrained resnet20 that the registry name `resnet20` stands for, so each
can be validated against that name, and against the other: a wrong transpose or a wrong size
fails the comparison, not only a shape check.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from resnet_deploy.cli import cli
from resnet_deploy.export.artifact import describe_artifact
from resnet_deploy.model_source import build_untrained

pytest.importorskip("onnxruntime")

FAST = ["--warmup", "1", "--iterations", "3"]


class _Nhwc(torch.nn.Module):
    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.permute(0, 3, 1, 2))


def _export(net: torch.nn.Module, example: torch.Tensor, path: Path, axes: dict[int, str]) -> Path:
    torch.onnx.export(net.eval(), (example,), str(path), input_names=["images"], output_names=["scores"],
                      dynamic_axes={"images": axes, "scores": {0: "N"}}, opset_version=17, dynamo=False)
    return path


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("foreign")
    net = build_untrained("resnet20")
    return {
        "nhwc": _export(_Nhwc(net), torch.randn(1, 32, 32, 3), folder / "nhwc.onnx", {0: "N"}),
        "dynamic": _export(net, torch.randn(1, 3, 32, 32), folder / "dynamic.onnx", {0: "N", 2: "H", 3: "W"}),
    }


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_one_description_of_foreign_models(foreign: dict[str, Path]) -> None:
    nhwc, dynamic = describe_artifact(foreign["nhwc"]), describe_artifact(foreign["dynamic"])
    assert (nhwc.layout, nhwc.dynamic_size, nhwc.spec_source) == ("NHWC", False, "graph")
    assert nhwc.spec_at().channels == 3 and nhwc.image_input().shape(2) == (2, 32, 32, 3)
    assert [t.name for t in nhwc.inputs] == ["images"] and nhwc.batch.max is None
    assert (dynamic.layout, dynamic.dynamic_size, dynamic.input_spec) == ("NCHW", True, None)
    assert dynamic.spec_at((40, 48)).height == 40 and dynamic.image_input((40, 48)).chw == (3, 40, 48)


@pytest.mark.parametrize(("model", "reference", "extra"), [
    ("nhwc", "resnet20", []),                   # NHWC on onnxruntime vs the PyTorch network it holds
    ("dynamic", "resnet20", ["--input-size", "32"]),
    ("dynamic", "nhwc", []),                    # the size comes from the reference, which fixes it
    ("nhwc", "dynamic", []),
])
def test_validate_runs_foreign_models(foreign: dict[str, Path], model: str, reference: str, extra: list[str]) -> None:
    ref = str(foreign.get(reference, reference))
    code, output = _run("validate", str(foreign[model]), "--reference", ref, "--random", "4", "--batch-sizes", "1,3",
                        *extra, "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["passed"] and report["comparisons"][0]["outputs"]["scores"]["cosine"] > 0.99999


def test_validate_asks_for_a_size_only_when_it_must(foreign: dict[str, Path], tmp_path: Path) -> None:
    twin = tmp_path / "twin.onnx"
    twin.write_bytes(foreign["dynamic"].read_bytes())
    code, output = _run("validate", str(foreign["dynamic"]), "--reference", str(twin), "--random", "2")
    assert code == 2 and "--input-size" in output and "Traceback" not in output
    code, output = _run("validate", str(foreign["dynamic"]), "--reference", str(twin), "--random", "2",
                        "--input-size", "24x40", "--json")
    assert code == 0, output
    code, output = _run("validate", str(foreign["nhwc"]), "--reference", "resnet20", "--random", "2",
                        "--input-size", "64")
    assert code == 2 and "fixed at 32x32" in output


def test_bench_times_nhwc_and_dynamic_models(foreign: dict[str, Path]) -> None:
    code, output = _run("bench", "--onnx", str(foreign["nhwc"]), "--batch-sizes", "2", *FAST, "--json")
    assert code == 0, output
    run = json.loads(output)["backends"][0]
    assert run["input"]["layout"] == "NHWC" and run["input"]["shape_chw"] == [3, 32, 32]
    code, output = _run("bench", "--onnx", str(foreign["dynamic"]), "--batch-sizes", "1", *FAST)
    assert code == 2 and "--input-size" in output
    code, output = _run("bench", "--onnx", str(foreign["dynamic"]), "--batch-sizes", "1", "--input-size", "24", *FAST,
                        "--json")
    assert code == 0, output
    assert json.loads(output)["backends"][0]["input"]["shape_chw"] == [3, 24, 24]


def test_quantize_calibrates_nhwc_and_dynamic_models(foreign: dict[str, Path], tmp_path: Path) -> None:
    common = ["--precision", "int8", "--target", "cpu", "--calib-samples", "8"]
    out = tmp_path / "dynamic.int8.onnx"
    code, output = _run("quantize", str(foreign["dynamic"]), *common, "--calib-data", "random", "-o", str(out))
    assert code == 2 and "--input-size" in output and not out.exists()
    code, output = _run("quantize", str(foreign["dynamic"]), *common, "--calib-data", "random", "--input-size", "32",
                        "-o", str(out))
    assert code == 0, output
    assert describe_artifact(out).precision == "int8"

    nhwc_out = tmp_path / "nhwc.int8.onnx"
    code, output = _run("quantize", str(foreign["nhwc"]), *common, "--calib-data", "digits", "-o", str(nhwc_out))
    assert code == 0, output
    code, output = _run("validate", str(nhwc_out), "--reference", str(foreign["nhwc"]), "--random", "4", "--json")
    assert code in (0, 1), output  # INT8 of an untrained network may miss the limits; it must run
    assert json.loads(output)["comparisons"][0]["outputs"]["scores"]["cosine"] > 0.9


def test_nhwc_calibration_array_in_either_layout(foreign: dict[str, Path], tmp_path: Path) -> None:
    from resnet_deploy.precision._model import load_source
    from resnet_deploy.precision.calibration_data import load_calibration_data

    source = load_source(foreign["nhwc"])
    images = np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32)
    for name, array in (("nchw.npy", images), ("nhwc.npy", images.transpose(0, 2, 3, 1).copy())):
        np.save(tmp_path / name, array)
        data = load_calibration_data(str(tmp_path / name), source)
        np.testing.assert_array_equal(data.array, images.transpose(0, 2, 3, 1))
