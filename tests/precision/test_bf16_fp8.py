"""BF16 conversion and FP8 (E4M3) Q/DQ: what the graphs hold, that a CPU runtime runs them
close to FP32, and the one-line refusals (nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import ml_dtypes
import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, numpy_helper

from resnet_deploy.cli import cli
from resnet_deploy.export.detect import detect_precision
from resnet_deploy.precision.qdq import check_tensorrt_placement
from tests.precision.conftest import ort_logits


@pytest.fixture(scope="module")
def fp8_model(fp32_model: Path, calib_npy: Path, models_dir: Path) -> Path:
    from resnet_deploy.precision.fp8 import quantize_fp8

    return quantize_fp8(fp32_model, models_dir / "r20.fp8.onnx", calib=str(calib_npy), samples=16).output


@pytest.fixture(scope="module")
def bf16_model(fp32_model: Path, models_dir: Path) -> Path:
    from resnet_deploy.precision.bf16 import convert_bf16

    return convert_bf16(fp32_model, models_dir / "r20.bf16.onnx").output


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float((a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b))


def test_fp8_graph_is_e4m3_qdq_where_tensorrt_fuses_it(fp8_model: Path, fp32_model: Path) -> None:
    model = onnx.load(str(fp8_model))
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    assert opset >= 19  # FLOAT8 Q/DQ; the source was exported at opset 17 and lifted
    placement = check_tensorrt_placement(model, fmt="fp8")
    assert placement.ok and placement.weighted_quantized == placement.weighted == 20
    assert placement.residual_adds_quantized == placement.residual_adds == 9
    assert not check_tensorrt_placement(model, fmt="int8").ok  # zero points are FP8, not INT8
    weights = [init for init in model.graph.initializer if len(init.dims) == 4]
    assert weights and all(init.data_type == TensorProto.FLOAT8E4M3FN for init in weights)
    assert all(abs(float(numpy_helper.to_array(w).astype(np.float32).max())) <= 448 for w in weights)
    assert [i.type.tensor_type.elem_type for i in (*model.graph.input, *model.graph.output)] == [TensorProto.FLOAT] * 2
    found = detect_precision(model)
    assert found.precision == "fp8" and found.fp8_compute_nodes == found.quantized_compute_nodes == 20
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["precision"] == "fp8" and meta["fp8_format"] == "e4m3fn" and meta["calibration_method"] == "max"


def test_onnxruntime_runs_fp8_close_to_fp32_through_the_runner(fp8_model: Path, fp32_model: Path,
                                                               calib_npy: Path) -> None:
    from resnet_deploy.backends.onnxruntime_runner import OnnxRuntimeRunner

    x = np.load(calib_npy)[:8]
    reference = ort_logits(fp32_model, x)
    with OnnxRuntimeRunner(fp8_model) as runner:
        logits = runner.infer({"input": x})["logits"]
    assert runner.disabled_optimizers == ("Level2_RuleBasedTransformer",)
    assert _cosine(logits, reference) > 0.99
    # The defect the runner avoids: with every onnxruntime optimization on, the Relus before
    # FP8 QuantizeLinear disappear. If onnxruntime fixes it, this says the workaround may go.
    plain = ort_logits(fp8_model, x)
    assert _cosine(plain, reference) < 0.9, "onnxruntime no longer drops Relus before FP8 Q: remove the workaround"


def test_bf16_graph_keeps_the_fp16_rule_with_weights_from_fp32(bf16_model: Path, fp32_model: Path) -> None:
    model, source = onnx.load(str(bf16_model)), onnx.load(str(fp32_model))
    originals = {init.name: numpy_helper.to_array(init) for init in source.graph.initializer}
    bf16 = [init for init in model.graph.initializer if init.data_type == TensorProto.BFLOAT16]
    assert len(bf16) >= 19 and not any(init.data_type == TensorProto.FLOAT16 for init in model.graph.initializer)
    for init in bf16:  # rounded from FP32, not from an FP16 copy
        if init.name in originals:
            expected = originals[init.name].astype(ml_dtypes.bfloat16)
            assert np.array_equal(numpy_helper.to_array(init).astype(np.float32), expected.astype(np.float32))
    assert [i.type.tensor_type.elem_type for i in (*model.graph.input, *model.graph.output)] == [TensorProto.FLOAT] * 2
    assert not any(n.op_type == "Cast" and n.attribute[0].i == TensorProto.FLOAT16 for n in model.graph.node)
    assert detect_precision(model).precision == "bf16"
    sidecar = json.loads(bf16_model.with_name(bf16_model.name + ".json").read_text())
    assert sidecar["precision"] == "bf16" and sidecar["fp32_nodes"]  # the classifier stays FP32


def test_openvino_runs_the_bf16_graph_close_to_fp32(bf16_model: Path, fp32_model: Path, calib_npy: Path) -> None:
    pytest.importorskip("openvino")
    from resnet_deploy.backends.openvino_runner import OpenVinoRunner

    x = np.load(calib_npy)[:8]
    with OpenVinoRunner(bf16_model) as runner:
        logits = runner.infer({"input": x})["logits"]
        assert runner.describe()["openvino_precision"]["hint"] == "f32"
    assert _cosine(logits, ort_logits(fp32_model, x)) > 0.999


@pytest.mark.parametrize(("source", "precision", "message"), [
    ("fp8_model", "fp8", "already quantized"), ("int8_trt_model", "fp8", "already quantized"),
    ("bf16_model", "fp8", "already a BF16 model"), ("fp16_model", "bf16", "already an FP16 model"),
    ("fp8_model", "bf16", "already quantized"),
])
def test_quantizing_a_model_that_is_not_fp32_is_one_line_and_writes_nothing(
        source: str, precision: str, message: str, calib_npy: Path, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    model = request.getfixturevalue(source)
    out = tmp_path / "x.onnx"
    result = CliRunner().invoke(cli, ["quantize", str(model), "--precision", precision, "--calib-data", str(calib_npy),
                                      "-o", str(out)])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, result.output
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("extra", "message"), [
    (["--precision", "fp8"], "needs --calib-data"),
    (["--precision", "fp8", "--calib-data", "{calib}", "--target", "cpu"], "--target and --cpu-isa apply to int8"),
    (["--precision", "bf16", "--io-dtype", "fp16"], "--io-dtype fp16 applies to --precision fp16 only"),
])
def test_quantize_cli_bf16_fp8_bad_input(fp32_model: Path, calib_npy: Path, tmp_path: Path, extra: list[str],
                                         message: str) -> None:
    args = [a.replace("{calib}", str(calib_npy)) for a in extra]
    result = CliRunner().invoke(cli, ["quantize", str(fp32_model), *args, "-o", str(tmp_path / "x.onnx")])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not list(tmp_path.iterdir())


def test_quantize_cli_fp8_and_bf16(fp32_model: Path, calib_npy: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["quantize", str(fp32_model), "--precision", "fp8", "--calib-data", str(calib_npy),
                                 "--calib-samples", "8", "-o", str(tmp_path / "m.fp8.onnx")])
    assert result.exit_code == 0, result.output
    assert "E4M3" in result.output and "compute capability >= 8.9" in result.output
    result = runner.invoke(cli, ["quantize", str(fp32_model), "--precision", "bf16", "-o", str(tmp_path / "m.bf16.onnx"),
                                 "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["precision"] == "bf16"
