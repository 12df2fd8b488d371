"""ONNX export, metadata, loading and inspection (validation is resnet_deploy.compare).

    from resnet_deploy.export import export_onnx, load_onnx_model, read_onnx_metadata
"""

from resnet_deploy.export.artifact import read_onnx_metadata
from resnet_deploy.export.exporter import DEFAULT_OPSET, EXPORTERS, ExportResult, export_onnx
from resnet_deploy.export.loader import load_onnx_model, needs_external_data, save_onnx_model

__all__ = [
    "DEFAULT_OPSET",
    "EXPORTERS",
    "ExportResult",
    "export_onnx",
    "load_onnx_model",
    "needs_external_data",
    "read_onnx_metadata",
    "save_onnx_model",
]
