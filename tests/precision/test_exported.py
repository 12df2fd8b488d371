"""The real path: a model from export_onnx (dynamo exporter, metadata, sidecar) through both
conversions, with the input spec and provenance carried into the outputs' sidecars."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx

from resnet_deploy.export import export_onnx, read_onnx_metadata
from resnet_deploy.precision import convert_fp16, quantize_int8
from resnet_deploy.precision.qdq import check_tensorrt_placement


def test_exported_model_converts_with_metadata(tmp_path: Path) -> None:
    fp32 = export_onnx(tmp_path / "r20.onnx", model="resnet20", input_size=32).path
    calib = tmp_path / "calib.npy"
    np.save(calib, np.random.default_rng(0).standard_normal((8, 3, 32, 32)).astype(np.float32))
    fp16 = convert_fp16(fp32, tmp_path / "r20.fp16.onnx")
    int8 = quantize_int8(fp32, tmp_path / "r20.int8.onnx", calib=str(calib), samples=8)
    assert check_tensorrt_placement(onnx.load(str(int8.output))).ok
    source_meta = read_onnx_metadata(fp32)
    for result, precision in ((fp16, "fp16"), (int8, "int8")):
        meta = read_onnx_metadata(result.output)
        assert meta["precision"] == precision and meta["architecture"] == "resnet20"
        assert meta["input_spec"] == source_meta["input_spec"]
        sidecar = json.loads(Path(str(result.output) + ".json").read_text())
        assert sidecar["precision"] == precision and sidecar["architecture"] == "resnet20"
        assert sidecar["source_sha256"] == json.loads(Path(str(fp32) + ".json").read_text())["sha256"]
        assert sidecar["input_spec"]["channels"] == 3
