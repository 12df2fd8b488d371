"""ONNX export, metadata, loading and inspection (validation is resnet_deploy.compare).

    from resnet_deploy.export import export_onnx, load_onnx_model, read_onnx_metadata

The names are imported on first use (optional.lazy_exports): reading a model's metadata or
its precision (export.artifact, export.detect) must not import torch, which the exporter
needs; an MLPerf child or a server that only runs an ONNX model never pays for it.
"""

from typing import TYPE_CHECKING

from resnet_deploy.optional import lazy_exports

if TYPE_CHECKING:  # the same names, typed, for mypy and editors
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

_HOME = {
    "read_onnx_metadata": "resnet_deploy.export.artifact",
    "DEFAULT_OPSET": "resnet_deploy.export.exporter", "EXPORTERS": "resnet_deploy.export.exporter",
    "ExportResult": "resnet_deploy.export.exporter", "export_onnx": "resnet_deploy.export.exporter",
    "load_onnx_model": "resnet_deploy.export.loader", "needs_external_data": "resnet_deploy.export.loader",
    "save_onnx_model": "resnet_deploy.export.loader",
}

__getattr__ = lazy_exports(__name__, _HOME)
