from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.precision import convert_fp16, detect_precision
from resnet_deploy.precision.fp16 import classifier_nodes
from tests.precision.conftest import ort_logits


def _io_types(model: onnx.ModelProto) -> tuple[int, int]:
    return model.graph.input[0].type.tensor_type.elem_type, model.graph.output[0].type.tensor_type.elem_type


def test_fp16_keeps_io_and_classifier_fp32_and_matches(fp32_model: Path, fp16_model: Path) -> None:
    model = onnx.load(str(fp16_model))
    assert detect_precision(model).precision == "fp16"
    assert _io_types(model) == (TensorProto.FLOAT, TensorProto.FLOAT)
    inits = {i.name: i for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert convs and all(inits[n.input[1]].data_type == TensorProto.FLOAT16 for n in convs)
    (fc,) = classifier_nodes(model)
    fc_node = next(n for n in model.graph.node if n.name == fc)
    assert inits[fc_node.input[1]].data_type == TensorProto.FLOAT  # the rule: classifier stays FP32
    x = np.random.default_rng(1).standard_normal((8, 1, 32, 32)).astype(np.float32)
    ref, out = ort_logits(fp32_model, x), ort_logits(fp16_model, x)
    assert out.dtype == np.float32
    cos = np.sum(ref * out, 1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1))
    assert cos.min() > 0.999
    assert np.array_equal(ref.argmax(1), out.argmax(1))
    meta = json.loads(fp16_model.with_name(fp16_model.name + ".json").read_text())
    assert meta["kind"] == "onnx" and meta["precision"] == "fp16" and meta["io_dtype"] == "float32"
    assert fc in meta["fp32_nodes"] and len(meta["source_sha256"]) == 64


def test_fp16_io_dtype_fp16(fp32_model: Path, tmp_path: Path) -> None:
    result = convert_fp16(fp32_model, tmp_path / "io16.onnx", keep_io_types=False)
    model = onnx.load(str(result.output))
    assert _io_types(model) == (TensorProto.FLOAT16, TensorProto.FLOAT16)
    x = np.zeros((2, 1, 32, 32), np.float16)
    assert ort_logits(result.output, x).dtype == np.float16


def test_fp16_refuses_converted_models_and_overwrite(fp32_model: Path, fp16_model: Path, int8_trt_model: Path,
                                                     tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="already an FP16"):
        convert_fp16(fp16_model, tmp_path / "x.onnx")
    with pytest.raises(InvalidInputError, match="already quantized"):
        convert_fp16(int8_trt_model, tmp_path / "y.onnx")
    with pytest.raises(InvalidInputError, match="overwrite"):
        convert_fp16(fp32_model, fp32_model)
    assert not (tmp_path / "x.onnx").exists() and not (tmp_path / "y.onnx").exists()
