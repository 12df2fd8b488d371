"""Small exported models shared by the export tests (exported once per xdist worker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from resnet_deploy.export import export_onnx


@pytest.fixture(scope="session")
def r20_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Untrained CIFAR resnet20 (32x32), TorchScript exporter: the fastest full export."""
    path = tmp_path_factory.mktemp("r20") / "resnet20.onnx"
    export_onnx(path, model="resnet20", exporter="torchscript")
    return path


@pytest.fixture(scope="session")
def r18_dynamo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Untrained resnet18 at 32x32 through the dynamo exporter (the default)."""
    path = tmp_path_factory.mktemp("r18") / "resnet18.onnx"
    export_onnx(path, model="resnet18", input_size=32)
    return path
