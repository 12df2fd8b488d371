from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.precision import calibration, detect_precision, quantize_int8
from resnet_deploy.precision.qdq import check_tensorrt_placement
from tests.precision.conftest import ort_logits


def _producer_map(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    return {out: node for node in model.graph.node for out in node.output}


def test_tensorrt_placement_by_walking_the_graph(int8_trt_model: Path, fp32_model: Path, calib_npy: Path) -> None:
    model = onnx.load(str(int8_trt_model))
    producers = _producer_map(model)
    inits = {i.name: i for i in model.graph.initializer}

    def dq(name: str) -> onnx.NodeProto:
        node = producers[name]
        assert node.op_type == "DequantizeLinear", f"{name} is fed by {node.op_type}, not DequantizeLinear"
        return node

    weighted = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm")]
    assert len(weighted) == 20  # 19 convs + fc of a ResNet-20 (option A shortcuts have no conv)
    for node in weighted:
        act_dq, w_dq = dq(node.input[0]), dq(node.input[1])
        assert producers[act_dq.input[0]].op_type == "QuantizeLinear"  # activation: Q -> DQ
        weight = inits[w_dq.input[0]]
        assert weight.data_type == TensorProto.INT8  # weight: INT8 initializer -> DQ
        scale = numpy_helper.to_array(inits[w_dq.input[1]])
        assert scale.shape == (weight.dims[0],)  # per output channel (axis 0)
        assert np.abs(numpy_helper.to_array(weight)).max() <= 127
        if len(node.input) > 2:
            assert inits[node.input[2]].data_type == TensorProto.FLOAT  # bias stays FP32
    adds = [n for n in model.graph.node if n.op_type == "Add" and not any(i in inits for i in n.input)]
    assert len(adds) == 9  # one residual Add per basic block
    for node in adds:
        for name in node.input:
            dq(name)
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            zero_point = inits[node.input[2]]
            assert zero_point.data_type == TensorProto.INT8 and not numpy_helper.to_array(zero_point).any()
            if node.op_type == "QuantizeLinear":
                assert numpy_helper.to_array(inits[node.input[1]]).shape == ()  # activations per tensor
    placement = check_tensorrt_placement(model)
    assert placement.ok and placement.weighted_quantized == 20 and placement.residual_adds_quantized == 9
    assert detect_precision(model).precision == "int8"
    x = np.load(calib_npy)[16:]
    ref, out = ort_logits(fp32_model, x), ort_logits(int8_trt_model, x)
    cos = np.sum(ref * out, 1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1))
    assert cos.min() > 0.95


def test_placement_check_catches_a_missing_qdq(int8_trt_model: Path) -> None:
    model = onnx.load(str(int8_trt_model))
    producers = _producer_map(model)
    add = next(n for n in model.graph.node if n.op_type == "Add" and all(producers[i].op_type == "DequantizeLinear" for i in n.input))
    add.input[1] = producers[producers[add.input[1]].input[0]].input[0]  # bypass the Q/DQ pair
    placement = check_tensorrt_placement(model)
    assert not placement.ok and placement.residual_adds_quantized == placement.residual_adds - 1


def test_cpu_target_uses_unsigned_activations(fp32_model: Path, calib_npy: Path, tmp_path: Path) -> None:
    result = quantize_int8(fp32_model, tmp_path / "cpu.onnx", calib=str(calib_npy), samples=16, target="cpu",
                           method="percentile")
    model = onnx.load(str(result.output))
    inits = {i.name: i for i in model.graph.initializer}
    q_zero_points = {inits[n.input[2]].data_type for n in model.graph.node if n.op_type == "QuantizeLinear"}
    assert q_zero_points == {TensorProto.UINT8}
    assert detect_precision(model).precision == "int8"
    meta = json.loads(Path(str(result.output) + ".json").read_text())
    assert meta["precision"] == "int8" and meta["target"] == "cpu"
    assert meta["calibration"]["method"] == "percentile" and meta["calibration"]["samples"] == 16
    x = np.load(calib_npy)[16:]
    assert ort_logits(result.output, x).shape == (8, 10)


def test_calibration_cache_is_reused_and_keyed(fp32_model: Path, calib_npy: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "ranges.calib.json"
    first = quantize_int8(fp32_model, tmp_path / "a.onnx", calib=str(calib_npy), samples=8, cache_path=cache)
    assert not first.details["calibration"]["cache_hit"] and cache.is_file()
    written = json.loads(cache.read_text())
    assert written["key"] and written["source"].endswith(fp32_model.name) and written["toolkit_version"]
    assert written["library_versions"]["onnxruntime"] and written["created"]
    assert not Path(str(cache) + ".json").exists()  # the cache records its provenance itself: no sidecar

    def no_calibration(*args: object, **kwargs: object) -> None:
        raise AssertionError("recalibrated although the cache matches")

    # A cache as older versions wrote it (provenance in a sidecar beside it) is still read.
    old = {k: v for k, v in written.items() if k not in ("source", "toolkit_version", "created", "library_versions")}
    cache.write_text(json.dumps(old))
    Path(str(cache) + ".json").write_text(json.dumps({"kind": "calibration-cache", "source": str(fp32_model)}))
    monkeypatch.setattr(calibration, "collect_ranges", no_calibration)
    second = quantize_int8(fp32_model, tmp_path / "b.onnx", calib=str(calib_npy), samples=8, cache_path=cache,
                           target="cpu")
    assert second.details["calibration"]["cache_hit"]
    monkeypatch.undo()
    third = quantize_int8(fp32_model, tmp_path / "c.onnx", calib=str(calib_npy), samples=12, cache_path=cache)
    assert not third.details["calibration"]["cache_hit"]  # other sample count: recalibrated
    assert not Path(str(cache) + ".json").exists()  # and the old sidecar, now stale, is gone


@pytest.mark.parametrize(("array", "kwargs", "message"), [
    (np.zeros((16, 1, 32, 32), np.float64), {}, "dtype float64"),
    (np.zeros((16, 3, 32, 32), np.float32), {}, "3 channels"),
    (np.zeros((16, 1, 28, 28), np.float32), {}, "shape"),
    (np.zeros((16, 32, 32), np.float32), {}, "4 dimensions"),
    (np.zeros((8, 1, 32, 32), np.float32), {"samples": 16}, "fewer than the 16"),
    (np.zeros((16, 1, 32, 32), np.float32), {"method": "mse"}, "unknown calibration method"),
    (np.zeros((16, 1, 32, 32), np.float32), {"target": "gpu"}, "unknown INT8 target"),
])
def test_bad_calibration_input_is_refused(fp32_model: Path, tmp_path: Path, array: np.ndarray,
                                          kwargs: dict[str, object], message: str) -> None:
    data = tmp_path / "calib.npy"
    np.save(data, array)
    options: dict[str, object] = {"samples": 16, **kwargs}
    with pytest.raises(InvalidInputError, match=message):
        quantize_int8(fp32_model, tmp_path / "out.onnx", calib=str(data), **options)  # type: ignore[arg-type]
    assert not (tmp_path / "out.onnx").exists()


def test_refuses_quantized_model_and_unknown_source(int8_trt_model: Path, fp32_model: Path, calib_npy: Path,
                                                    tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="already quantized"):
        quantize_int8(int8_trt_model, tmp_path / "x.onnx", calib=str(calib_npy), samples=8)
    with pytest.raises(InvalidInputError, match="unknown calibration data"):
        quantize_int8(fp32_model, tmp_path / "x.onnx", calib="imagenet", samples=8)
    assert not (tmp_path / "x.onnx").exists()


def test_calibrates_from_a_dataset_reader(fp32_model: Path, tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    result = quantize_int8(fp32_model, tmp_path / "digits.onnx", calib="digits", samples=16, method="max")
    assert result.details["calibration"]["data"] == "digits"
    with pytest.raises(InvalidInputError, match="fewer than the 100000"):
        quantize_int8(fp32_model, tmp_path / "too_many.onnx", calib="digits", samples=100000)
