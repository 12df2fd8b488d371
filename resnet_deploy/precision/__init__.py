"""FP16 conversion, INT8 calibration and Q/DQ, and accuracy against FP32.

Precision lives in the ONNX graph (README, "Design choices"): TensorRT 11 builds strongly typed networks
only, so FP16 is an FP16 ONNX model and INT8 an ONNX model with explicit Q/DQ nodes.

    from resnet_deploy.precision import convert_fp16, quantize_int8, evaluate_accuracy
    convert_fp16("m.onnx", "m.fp16.onnx")
    quantize_int8("m.onnx", "m.int8.onnx", calib="digits", samples=512, target="tensorrt")
    report = evaluate_accuracy(["m.fp16.onnx", "m.int8.onnx"], dataset="digits", reference="m.onnx")

Submodules import onnxruntime lazily, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from resnet_deploy.export.detect import GraphPrecision, detect_precision
from resnet_deploy.optional import lazy_exports

if TYPE_CHECKING:
    from resnet_deploy.precision.accuracy import AccuracyReport, ModelAccuracy, evaluate_accuracy
    from resnet_deploy.precision.fp16 import convert_fp16
    from resnet_deploy.precision.int8 import quantize_int8
    from resnet_deploy.precision.result import QuantizeResult

_LAZY = {
    "convert_fp16": "resnet_deploy.precision.fp16",
    "quantize_int8": "resnet_deploy.precision.int8",
    "evaluate_accuracy": "resnet_deploy.precision.accuracy",
    "AccuracyReport": "resnet_deploy.precision.accuracy",
    "ModelAccuracy": "resnet_deploy.precision.accuracy",
    "QuantizeResult": "resnet_deploy.precision.result",
}

__all__ = ["AccuracyReport", "GraphPrecision", "ModelAccuracy", "QuantizeResult", "convert_fp16",
           "detect_precision", "evaluate_accuracy", "quantize_int8"]


__getattr__ = lazy_exports(__name__, _LAZY)
