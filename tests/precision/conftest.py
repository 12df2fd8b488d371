"""Tiny FP32 ONNX models and data for the precision tests, built once per xdist worker."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from resnet_deploy.models import build_model


def export_tiny(path: Path, *, seed: int = 0, in_channels: int = 1, num_classes: int = 10) -> Path:
    """A ResNet-20 (32x32, dynamic batch) exported with the TorchScript exporter (fast)."""
    torch.manual_seed(seed)
    model = build_model("resnet20", num_classes=num_classes, in_channels=in_channels).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so folding and ranges matter
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and constant-folding notes
        torch.onnx.export(model, torch.randn(2, in_channels, 32, 32), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    return path


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("precision_models")


@pytest.fixture(scope="session")
def fp32_model(models_dir: Path) -> Path:
    return export_tiny(models_dir / "r20.onnx")


@pytest.fixture(scope="session")
def other_model(models_dir: Path) -> Path:
    """Same architecture, different weights: a model that disagrees with fp32_model."""
    return export_tiny(models_dir / "r20_other.onnx", seed=1)


@pytest.fixture(scope="session")
def calib_npy(models_dir: Path) -> Path:
    rng = np.random.default_rng(0)
    path = models_dir / "calib.npy"
    np.save(path, rng.standard_normal((24, 1, 32, 32)).astype(np.float32))
    return path


@pytest.fixture(scope="session")
def fp16_model(fp32_model: Path, models_dir: Path) -> Path:
    from resnet_deploy.precision import convert_fp16

    return convert_fp16(fp32_model, models_dir / "r20.fp16.onnx").output


@pytest.fixture(scope="session")
def int8_trt_model(fp32_model: Path, calib_npy: Path, models_dir: Path) -> Path:
    from resnet_deploy.precision import quantize_int8

    return quantize_int8(fp32_model, models_dir / "r20.int8.onnx", calib=str(calib_npy), samples=16,
                         target="tensorrt").output


def ort_logits(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.fixture(scope="session")
def eval_npz(fp32_model: Path, models_dir: Path) -> Path:
    """48 images labelled with fp32_model's own predictions: its top-1 is 100% by construction."""
    x = np.random.default_rng(2).standard_normal((48, 1, 32, 32)).astype(np.float32)
    path = models_dir / "eval.npz"
    np.savez(path, x=x, labels=ort_logits(fp32_model, x).argmax(1))
    return path
