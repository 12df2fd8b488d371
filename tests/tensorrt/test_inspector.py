"""Engine-inspector JSON (TensorRT 10 and 11 formats) -> per-layer report and precision check."""

from __future__ import annotations

import json

import pytest

from resnet_deploy.errors import ArtifactError
from resnet_deploy.runtime.inspector import (
    EngineReport,
    check_layer_precision,
    dtype_from_text,
    parse_engine_information,
)
from tests.tensorrt.helpers import engine_json


@pytest.mark.parametrize(("text", "dtype"), [
    ("Channel major FP16 format where channel % 8 == 0 (kHWC8)", "fp16"),
    ("Thirty-two wide channel vectorized row major Int8 format (kCHW32)", "int8"),
    ("Row major linear FP32 format (kLINEAR)", "fp32"),
    ("Half", "fp16"), ("Float", "fp32"), ("Int8", "int8"), ("UInt8", "uint8"), ("BFloat16", "bf16"),
    ("Int32", "int32"), ("FP8", "fp8"), ("N/A due to dynamic shapes", None), (None, None),
])
def test_dtype_from_format_text(text: str | None, dtype: str | None) -> None:
    assert dtype_from_text(text) == dtype


@pytest.mark.parametrize("trt11", [False, True], ids=["trt10", "trt11"])
def test_parse_fp16_engine(trt11: bool) -> None:
    report = parse_engine_information(engine_json(["fp16", "fp16", "fp16"], trt11=trt11))
    assert report.detailed and report.io_tensors == ("input", "logits")
    convs = [layer for layer in report.layers if layer.is_convolution]
    assert [layer.precision for layer in convs] == ["fp16"] * 3
    assert convs[0].name == "/conv1/Conv + /relu/Relu"
    assert convs[0].tactic is not None and "f16f16" in convs[0].tactic
    assert convs[0].origin == "[ONNX Layer: /conv1/Conv]"
    reformat = report.layers[0]
    assert not reformat.is_convolution and reformat.precision == "fp32"  # its input is the FP32 engine input
    assert report.precision_counts(convolutions_only=True) == {"fp16": 3}
    assert check_layer_precision(report, "fp16")
    # the report survives the trip through the plan's sidecar
    assert EngineReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report


def test_myelin_layers_are_found_by_onnx_name() -> None:
    report = parse_engine_information(engine_json(["int8", "int8"], myelin=True, trt11=True))
    convs = [layer for layer in report.layers if layer.is_convolution]
    assert len(convs) == 2 and all(layer.layer_type == "gemm" for layer in convs)
    assert all(layer.precision == "int8" for layer in convs)


def test_int8_fallback_fails_and_names_the_layers() -> None:
    report = parse_engine_information(engine_json(["int8", "fp32", "fp16", "fp32"]))
    check = check_layer_precision(report, "int8")
    assert not check and check.convolutions == 4 and check.matching == 1
    message = check.message()
    assert "only 1 of 4 convolutions run in int8" in message
    assert "/layer1/layer1.1/conv1/Conv + /layer1/layer1.1/relu/Relu (fp32)" in message
    assert "(fp16)" in message
    assert check.to_dict()["mismatched"][0] == {"layer": "/layer1/layer1.1/conv1/Conv + /layer1/layer1.1/relu/Relu",
                                               "precision": "fp32"}


def test_precision_check_thresholds() -> None:
    half = parse_engine_information(engine_json(["int8", "int8", "fp16", "fp16"]))
    assert check_layer_precision(half, "int8")  # half of them: not "most did not"
    assert not check_layer_precision(half, "int8", min_fraction=0.9)
    mostly = parse_engine_information(engine_json(["fp16", "fp32", "fp32"]))
    assert not check_layer_precision(mostly, "fp16")
    assert check_layer_precision(parse_engine_information(engine_json(["int8", "int8"])), "fp16")  # lower is fine
    fp32 = check_layer_precision(mostly, "fp32")
    assert fp32 and "no precision to verify" in fp32.note


def test_reports_without_detail_pass_with_a_note() -> None:
    names_only = parse_engine_information(json.dumps({"Layers": ["conv1 + relu", "fc"], "Bindings": ["input", "logits"]}))
    assert not names_only.detailed and all(layer.precision is None for layer in names_only.layers)
    check = check_layer_precision(names_only, "int8")
    assert check and "DETAILED" in check.note


def test_bad_json_is_one_clear_error() -> None:
    with pytest.raises(ArtifactError, match="not valid JSON"):
        parse_engine_information("{not json")
    with pytest.raises(ArtifactError, match="Layers: Field required"):
        parse_engine_information("{}")
