"""`quantize --exclude`: named nodes, globs and op types stay in FP32 in both INT8 layouts;
a pattern that matches nothing is one line (exit 2) naming the closest nodes."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
from click.testing import CliRunner

from resnet_deploy.cli import cli
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.precision.exclude import resolve_exclusions
from resnet_deploy.precision.qdq import check_tensorrt_placement


def _dq_fed(model: onnx.ModelProto, name: str, slots: tuple[int, ...] = (0, 1)) -> bool:
    """Whether any of the node's inputs in `slots` comes from a DequantizeLinear."""
    producers = {out: node.op_type for node in model.graph.node for out in node.output}
    node = next(n for n in model.graph.node if n.name == name)
    return any(producers.get(node.input[i]) == "DequantizeLinear" for i in slots if i < len(node.input))


def test_patterns_resolve_to_names_globs_and_op_types(fp32_model: Path) -> None:
    model = onnx.load(str(fp32_model))
    assert resolve_exclusions(model, ["/fc/Gemm"]) == ("/fc/Gemm",)
    adds = resolve_exclusions(model, ["Add"])
    assert len(adds) == 9 and all(name.endswith("/Add") for name in adds)
    layer1 = resolve_exclusions(model, ["/layer1/*"])
    assert len(layer1) == 9 and all(name.startswith("/layer1/") for name in layer1)
    with pytest.raises(InvalidInputError, match=r"'/layer1/layer1.0/conv9/Conv' matches no node.*close: .*"
                                                r"/layer1/layer1.0/conv1/Conv"):
        resolve_exclusions(model, ["/layer1/layer1.0/conv9/Conv"])
    with pytest.raises(InvalidInputError, match="matches no node"):
        resolve_exclusions(model, ["/nothing/*"])


def test_tensorrt_layout_keeps_excluded_nodes_float(fp32_model: Path, calib_npy: Path, tmp_path: Path) -> None:
    out = tmp_path / "ex.int8.onnx"
    result = CliRunner().invoke(cli, ["quantize", str(fp32_model), "--precision", "int8", "--calib-data",
                                      str(calib_npy), "--calib-samples", "16", "-o", str(out), "--exclude", "Gemm",
                                      "--exclude", "/layer1/layer1.0/*"])
    assert result.exit_code == 0, result.output
    model = onnx.load(str(out))
    kept = json.loads({p.key: p.value for p in model.metadata_props}["int8_excluded"])
    assert "/fc/Gemm" in kept and "/layer1/layer1.0/conv1/Conv" in kept and "/layer1/layer1.0/Add" in kept
    assert not _dq_fed(model, "/fc/Gemm") and not _dq_fed(model, "/layer1/layer1.0/conv2/Conv")
    assert _dq_fed(model, "/layer1/layer1.1/conv1/Conv")  # the rest is INT8
    assert check_tensorrt_placement(model, exclude=frozenset(kept)).ok
    assert "kept FP32" in result.output and "/fc/Gemm" in result.output


def test_cpu_layout_keeps_excluded_nodes_float(fp32_model: Path, calib_npy: Path, tmp_path: Path) -> None:
    out = tmp_path / "ex-cpu.int8.onnx"
    result = CliRunner().invoke(cli, ["quantize", str(fp32_model), "--precision", "int8", "--calib-data",
                                      str(calib_npy), "--calib-samples", "16", "--target", "cpu", "-o", str(out),
                                      "--exclude", "/layer2/layer2.0/conv1/Conv"])
    assert result.exit_code == 0, result.output
    model = onnx.load(str(out))
    # onnxruntime's quantizer leaves the node's weight in FP32 (its input may still pass a Q/DQ
    # pair that a quantized neighbour needs: the node computes in float either way).
    assert not _dq_fed(model, "/layer2/layer2.0/conv1/Conv", (1,)) and _dq_fed(model, "/layer2/layer2.0/conv2/Conv", (1,))


def test_bad_exclude_and_max_drop_without_labels_are_one_line(fp32_model: Path, calib_npy: Path,
                                                              tmp_path: Path) -> None:
    base = ["quantize", str(fp32_model), "--precision", "int8", "--calib-data", str(calib_npy), "--calib-samples", "16",
            "-o", str(tmp_path / "bad.int8.onnx")]
    result = CliRunner().invoke(cli, [*base, "--exclude", "/layer1/layer1.0/conv3/Conv"])
    assert result.exit_code == 2 and "close: /layer1/layer1.0/conv" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(cli, [*base, "--max-drop", "0.5"])
    assert result.exit_code == 2 and "needs labelled images" in result.output
    assert not (tmp_path / "bad.int8.onnx").exists()
    result = CliRunner().invoke(cli, ["quantize", str(fp32_model), "--precision", "fp16", "--exclude", "Add"])
    assert result.exit_code == 2
