"""The mlperf tests need LoadGen (the `mlperf` extra, in dev); without it they skip, except the
test that the command then exits 3 with the install line."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def digits_r20(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained 1-channel ResNet-20 (32x32, 10 classes, dynamic batch) for the digits set."""
    from tests.precision.conftest import export_tiny

    return export_tiny(tmp_path_factory.mktemp("mlperf") / "r20_digits.onnx")


@pytest.fixture
def loadgen() -> object:
    return pytest.importorskip("mlperf_loadgen", reason="LoadGen is not installed (pip install 'resnet-deploy[mlperf]')")
