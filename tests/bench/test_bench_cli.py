"""`resnet-deploy bench` and `bench-compare` end to end on a tiny ONNX model, and the outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from resnet_deploy.cli import cli
from tests.bench.helpers import tiny_onnx

pytest.importorskip("onnxruntime")

FAST = ["--warmup", "2", "--iterations", "5"]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_onnx(tmp_path_factory.mktemp("bench") / "tiny.onnx", size=16)


def test_bench_writes_every_output(model: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["bench", "--onnx", str(model), "--batch-sizes", "1,4", *FAST,
                                      "--percentiles", "50,99", "--out", str(out), "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "img/s" in result.output and "p99 ms" in result.output
    data = json.loads((out / "bench.json").read_text())
    rows = data["backends"][0]["results"]
    assert [r["batch"] for r in rows] == [1, 4]
    assert {"p50", "p99"} <= set(rows[0]["latency_ms"])
    assert data["backends"][0]["artifact"]["sha256"]
    assert data["environment"]["library_versions"]["onnxruntime"]
    csv_lines = (out / "bench.csv").read_text().splitlines()
    assert csv_lines[0].startswith("backend,batch,samples") and len(csv_lines) == 3
    assert "| backend | batch |" in (out / "bench.md").read_text()
    for png in ("throughput.png", "latency.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_json_and_compare(model: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    for name in ("a", "b"):
        result = runner.invoke(cli, ["bench", "--onnx", str(model), "--batch-sizes", "1,2", *FAST,
                                     "--save-json", str(tmp_path / f"{name}.json"), "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["kind"] == "bench"
    result = runner.invoke(cli, ["bench-compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert result.exit_code == 0, result.output
    assert "change" in result.output and len(result.output.strip().splitlines()) == 4
    result = runner.invoke(cli, ["bench-compare", str(tmp_path / "a.json"), str(model)])
    assert result.exit_code == 2


def test_side_by_side_backends(model: Path, tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    result = CliRunner().invoke(cli, ["bench", "--onnx", str(model), "--backend", "ort-cpu", "--backend", "openvino",
                                      "--batch-sizes", "2", *FAST, "--json"])
    assert result.exit_code == 0, result.output
    assert [b["backend"] for b in json.loads(result.output)["backends"]] == ["ort-cpu", "openvino"]


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--engine", "x.plan"], 3, "TensorRT"),
    (["--backend", "ort-cuda"], 3, "CUDAExecutionProvider"),
    (["--batch-sizes", "0"], 2, "positive"),
    (["--backend", "tensorrt"], 2, "--engine"),
    (["--percentiles", "120"], 2, "0..100"),
])
def test_bad_input_exit_codes(model: Path, args: list[str], code: int, message: str) -> None:
    base = [] if "--engine" in args else ["--onnx", str(model)]
    result = CliRunner().invoke(cli, ["bench", *base, *args, *FAST])
    assert result.exit_code == code, result.output
    assert message in result.output


def test_non_image_onnx_is_exit_2(tmp_path: Path) -> None:
    flat = tiny_onnx(tmp_path / "flat.onnx", channels=4)
    result = CliRunner().invoke(cli, ["bench", "--onnx", str(flat), *FAST])
    assert result.exit_code == 2, result.output
    assert "not an image model" in result.output
