"""Shared fixtures. Tests mirror the package layout and build tiny models into tmp_path.

The device for tests that can use a GPU comes from RESNET_DEPLOY_TEST_DEVICE (default cpu),
so the same tests run on a lent GPU machine.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest
import torch

from resnet_deploy.export import export_onnx

TEST_DEVICE = os.environ.get("RESNET_DEPLOY_TEST_DEVICE", "cpu")


def pytest_configure(config: pytest.Config) -> None:
    # Two cores here: keep torch from oversubscribing when pytest-xdist runs two workers.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def torchvision_models() -> types.ModuleType:
    """The real torchvision.models, as a reference implementation.

    torchvision's registry wheel is built for CUDA torch; next to the CPU build its
    `_meta_registrations` import fails, and nothing we use needs it, so an empty module
    stands in before the import.
    """
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    return pytest.importorskip("torchvision.models", reason="torchvision is not installed (pip install --no-deps torchvision)")


@pytest.fixture
def device() -> torch.device:
    if TEST_DEVICE.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip(f"RESNET_DEPLOY_TEST_DEVICE={TEST_DEVICE} but CUDA is not available")
    return torch.device(TEST_DEVICE)


@pytest.fixture(scope="session")
def r20_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Untrained CIFAR resnet20 (32x32), TorchScript exporter: the fastest full export."""
    path = tmp_path_factory.mktemp("r20") / "r20.onnx"
    export_onnx(path, model="resnet20", exporter="torchscript")
    return path


@pytest.fixture(scope="session")
def r18_dynamo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Untrained resnet18 at 32x32 through the dynamo exporter (the default)."""
    path = tmp_path_factory.mktemp("r18") / "resnet18.onnx"
    export_onnx(path, model="resnet18", input_size=32)
    return path
