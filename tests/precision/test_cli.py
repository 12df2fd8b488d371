from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from resnet_deploy.cli import cli


def test_quantize_fp16_and_int8_cli(fp32_model: Path, calib_npy: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out16 = tmp_path / "m.fp16.onnx"
    result = runner.invoke(cli, ["quantize", str(fp32_model), "--precision", "fp16", "-o", str(out16), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["precision"] == "fp16" and out16.is_file()
    out8 = tmp_path / "m.int8.onnx"
    args = ["quantize", str(fp32_model), "--precision", "int8", "--calib-data", str(calib_npy), "--calib-samples", "8",
            "--method", "max", "--target", "tensorrt", "-o", str(out8)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "tensorrt" in result.output and "written" in result.output
    result = runner.invoke(cli, args)  # rebuild: the calibration cache is reused
    assert result.exit_code == 0 and "reused" in result.output


def test_quantize_cli_bad_input_is_one_line(fp32_model: Path, calib_npy: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["quantize", str(fp32_model), "--precision", "int8", "-o", str(tmp_path / "x.onnx")]
    for extra, message in [([], "needs --calib-data"),
                           (["--calib-data", str(calib_npy), "--calib-samples", "1000"], "fewer than the 1000"),
                           (["--calib-data", str(calib_npy), "--method", "mse"], "unknown calibration method"),
                           (["--calib-data", str(calib_npy), "--target", "arm"], "unknown INT8 target")]:
        result = runner.invoke(cli, base + extra)
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.onnx").exists()


def test_accuracy_cli_table_json_and_exit_code(fp32_model: Path, fp16_model: Path, other_model: Path,
                                               eval_npz: Path) -> None:
    runner = CliRunner()
    base = ["accuracy", "--dataset", str(eval_npz), "--reference", str(fp32_model), "--no-record"]
    result = runner.invoke(cli, [*base, str(fp16_model), "--max-drop", "50"])
    assert result.exit_code == 0, result.output
    assert "top-1 %" in result.output and "fp16" in result.output
    result = runner.invoke(cli, [*base, str(fp16_model), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["models"][0]["precision"] == "fp16"
    result = runner.invoke(cli, [*base, str(other_model), "--max-drop", "1"])
    assert result.exit_code == 1 and "top-1 drop" in result.output


def test_quantize_an_rgb_model_on_digits_works_and_says_what_it_is_good_for(tmp_path: Path) -> None:
    """The README's first session, at tiny size: an ImageNet-shaped (3-channel) model calibrated
    on the bundled digits (converted) for the CPU, with no dataset of its own."""
    from tests.precision.conftest import export_tiny

    model = export_tiny(tmp_path / "rgb.onnx", in_channels=3)
    out = tmp_path / "rgb.int8-cpu.onnx"
    result = CliRunner().invoke(cli, ["quantize", str(model), "--precision", "int8", "--calib-data", "digits",
                                      "--calib-samples", "16", "--target", "cpu", "--cpu-isa", "avx2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "grey 1 -> 3 channels" in result.output and "speed work only" in result.output
    assert "avx2 (7-bit weights)" in result.output and out.is_file()
    result = CliRunner().invoke(cli, ["quantize", str(model), "--precision", "int8", "--calib-data", "digits",
                                      "--cpu-isa", "neon", "-o", str(tmp_path / "x.onnx")])
    assert result.exit_code == 2 and "unknown CPU instruction set 'neon'" in result.output
