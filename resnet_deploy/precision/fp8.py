"""FP8 (E4M3) post-training quantization for TensorRT: calibrate, then write Q/DQ nodes in
ONNX's FLOAT8E4M3FN.

Hopper, Ada and Blackwell GPUs run FP8 convolutions; TensorRT takes FP8 through explicit Q/DQ
nodes exactly as it takes INT8 (strongly typed builds, no precision flags). So an FP8 model
is the INT8 TensorRT layout with another quantized type (precision/qdq.py): per-tensor
activation scales from the same streamed calibration as INT8 (`max` by default), per-channel
weight scales, Q/DQ on the inputs of every Conv/Gemm and both inputs of each residual Add,
graph inputs and outputs FP32. E4M3's largest value is 448; scale = amax / 448.

FLOAT8 in QuantizeLinear/DequantizeLinear needs opset 19: an older model is converted with
onnx's version converter first (ResNet's ops do not change meaning between 17 and 19).
onnxruntime's CPU provider runs these Q/DQ pairs (it dequantizes to FP32 and convolves in
FP32: the numerics of FP8 storage, not its speed), so `validate` and `accuracy` check an FP8
model on any machine before it meets a GPU; `build` needs compute capability 8.9 or later.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import onnx

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.export.metadata import set_metadata
from resnet_deploy.precision._model import (
    load_source,
    output_meta,
    prepare_output,
    require_fp32,
    write_model,
)
from resnet_deploy.precision.calibration import (
    METHODS,
    load_calibration_data,
    tensor_ranges_with_batch,
)
from resnet_deploy.precision.qdq import QDQ_FORMATS, check_tensorrt_placement, insert_qdq_tensorrt
from resnet_deploy.precision.result import QuantizeResult

log = logging.getLogger(__name__)

FP8_OPSET = QDQ_FORMATS["fp8"].min_opset
# The first GPUs with FP8 tensor cores: Ada (8.9) and Hopper (9.0).
FP8_MIN_COMPUTE_CAPABILITY = (8, 9)


def to_fp8_opset(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """The model at opset 19 or later (converted when older), and the opset it had."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset >= FP8_OPSET:
        return model, opset
    from onnx import version_converter

    try:
        converted = version_converter.convert_version(model, FP8_OPSET)
    except Exception as exc:  # the converter raises plain RuntimeErrors for ops it cannot lift
        raise InvalidInputError(f"FP8 Q/DQ needs ONNX opset {FP8_OPSET}; converting the model from opset {opset} "
                                f"failed ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                                f"re-export it with opset {FP8_OPSET} or later") from None
    return converted, opset


def quantize_fp8(input_path: str | os.PathLike[str], output_path: str | os.PathLike[str] | None = None, *,
                 calib: str, data_dir: str | os.PathLike[str] | None = None, samples: int | None = None,
                 method: str = "max", cache_path: str | os.PathLike[str] | None = None,
                 batch_size: int = 32, input_size: tuple[int, int] | None = None) -> QuantizeResult:
    """Write an FP8 (E4M3) Q/DQ model of an FP32 ONNX model, for TensorRT on GPUs of compute
    capability 8.9 or later. Calibration (`calib`, `samples`, `method`, `cache_path`,
    `batch_size`, `input_size`) works as for INT8 (precision/int8.py), and the same cache is
    valid for both: ranges do not depend on the quantized type."""
    start = time.perf_counter()
    if method not in METHODS:
        raise InvalidInputError(f"unknown calibration method {method!r}; valid: {', '.join(METHODS)}", param="method")
    if batch_size < 1:
        raise InvalidInputError(f"calibration batch size must be positive, got {batch_size}", param="batch_size")
    source = load_source(input_path)
    require_fp32(source, "FP8 quantization")
    output = prepare_output(source, output_path, "fp8")
    cache = Path(cache_path) if cache_path is not None else output.with_name(output.name + ".calib.json")
    data = load_calibration_data(calib, source, samples=samples, data_dir=data_dir, input_size=input_size)
    ranges, cache_hit, calib_batch = tensor_ranges_with_batch(source, data, method=method, batch_size=batch_size,
                                                              cache_path=cache)
    lifted, source_opset = to_fp8_opset(source.model)
    model = insert_qdq_tensorrt(lifted, ranges, fmt="fp8")
    placement = check_tensorrt_placement(model, fmt="fp8")
    if not placement.ok:
        raise InvalidInputError(f"Q/DQ placement check failed: {placement.problems[0]}")
    set_metadata(model, {"precision": "fp8", "fp8_format": "e4m3fn", "calibration_method": method,
                         "calibration_samples": str(data.samples), "calibration_data": data.describe(),
                         "source_sha256": source.sha256})
    seconds = time.perf_counter() - start
    max_value = QDQ_FORMATS["fp8"].max_value
    details = {"target": "tensorrt",
               "calibration": {"method": method, "samples": data.samples, "data": data.source,
                               "conversion": data.conversion, "representative": data.representative,
                               "data_sha256": data.sha256, "batch": calib_batch, "cache": str(cache),
                               "cache_hit": cache_hit},
               "opset": max(source_opset, FP8_OPSET), "source_opset": source_opset,
               "min_compute_capability": ".".join(map(str, FP8_MIN_COMPUTE_CAPABILITY)),
               "layout": {"activations": f"fp8 e4m3fn per-tensor (scale = amax / {max_value:g})",
                          "weights": f"fp8 e4m3fn per-channel (scale = amax / {max_value:g})",
                          "qdq_on": "inputs of Conv/Gemm and both inputs of residual Add", "bias": "fp32",
                          "io": "fp32"}}
    sidecar = write_model(output, model, output_meta(source, "fp8", **details))
    log.info("FP8 (E4M3) model %s written in %.1f s", output, seconds)
    return QuantizeResult(output, sidecar, "fp8", source.path, source.sha256, seconds, details)
