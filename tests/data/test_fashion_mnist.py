"""Fashion-MNIST as a first-class dataset, and the one dataset table every command reads.

The tests on the real files run where Debian's `dataset-fashion-mnist` is installed (CI
installs it: scripts/setup_env.sh) and skip with the reason elsewhere; the rest use a fake
folder in the same IDX format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from resnet_deploy.cli import cli
from resnet_deploy.data import eval_arrays, holdout_arrays, load_dataset
from resnet_deploy.data import registry as dataset_registry
from resnet_deploy.errors import MissingDependencyError

REAL = Path("/usr/share/datasets/fashion-mnist")
needs_real = pytest.mark.skipif(not (REAL / "t10k-images-idx3-ubyte.gz").is_file(),
                                reason="Debian's dataset-fashion-mnist is not installed (apt-get install "
                                       "dataset-fashion-mnist; CI installs it)")


def test_a_fake_folder_reads_with_fashion_names_and_statistics(mnist_dir: Path) -> None:
    data, info = load_dataset("fashion-mnist", "val", mnist_dir)
    assert info.name == "fashion-mnist" and len(data) == 20 and info.num_classes == 10
    assert info.class_names[0] == "T-shirt/top" and info.class_names[9] == "Ankle boot"
    assert info.input_spec.mean == (0.2860,) and info.input_spec.std == (0.3530,)
    assert info.input_spec.class_names == info.class_names  # travels on to the checkpoint and the ONNX model


def test_a_missing_default_folder_names_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    row = dataset_registry.BY_NAME["fashion-mnist"]
    monkeypatch.setitem(dataset_registry.BY_NAME, "fashion-mnist",
                        dataset_registry.DatasetEntry(row.name, row.summary, row.reader, str(tmp_path / "absent"),
                                                      row.install))
    with pytest.raises(MissingDependencyError, match=r"apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", "train")
    result = CliRunner().invoke(cli, ["train", "--dataset", "fashion-mnist", "--epochs", "1",
                                      "--out", str(tmp_path / "run"), "--no-progress"])
    assert result.exit_code == 3, result.output
    assert "apt-get install dataset-fashion-mnist" in result.output and "Traceback" not in result.output


def test_every_dataset_help_comes_from_the_table() -> None:
    names = dataset_registry.names_help()
    assert all(name in names for name in dataset_registry.DATASETS)
    for command in ("train", "eval", "accuracy", "validate", "quantize", "pipeline"):
        text = " ".join(CliRunner().invoke(cli, [command, "--help"], terminal_width=400).output.split())
        assert "fashion-mnist" in text, command
    assert dataset_registry.entry("fashion-mnist").install == "apt-get install dataset-fashion-mnist"


def test_holdout_images_avoid_the_calibration_images() -> None:
    calibration, _ = eval_arrays("digits", split="train", limit=64)
    held, labels = holdout_arrays("digits", None, 200, avoid=64)
    assert held.shape == (200, 1, 32, 32) and labels.shape == (200,)
    flat = {row.tobytes() for row in held.reshape(200, -1)}
    assert not any(row.tobytes() in flat for row in calibration.reshape(64, -1))
    np.testing.assert_array_equal(held, holdout_arrays("digits", None, 200, avoid=64)[0])  # fixed


@needs_real
def test_the_installed_package_reads_by_default() -> None:
    x, y = eval_arrays("fashion-mnist", limit=300)
    assert x.shape == (300, 1, 28, 28) and set(np.unique(y)) == set(range(10))
    _, info = load_dataset("fashion-mnist", "train")
    assert info.size == 60000
    assert abs(float(x.mean())) < 0.2  # normalised with its own statistics


@needs_real
def test_accuracy_on_fashion_mnist_reports_an_interval(tmp_path: Path) -> None:
    """An (untrained) ResNet-20 at 28x28, FP16 against FP32 on 300 test images."""
    import warnings

    import torch

    from resnet_deploy.models import build_model

    onnx_path = tmp_path / "f.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(build_model("resnet20", num_classes=10, in_channels=1).eval(), torch.randn(2, 1, 28, 28),
                          str(onnx_path), dynamo=False, opset_version=17, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    assert CliRunner().invoke(cli, ["quantize", str(onnx_path), "--precision", "fp16"]).exit_code == 0
    result = CliRunner().invoke(cli, ["accuracy", str(tmp_path / "f.fp16.onnx"), "--reference", str(onnx_path),
                                      "--dataset", "fashion-mnist", "--limit", "300", "--no-record"])
    assert "95% CI" in result.output and "fashion-mnist (val, 300 images)" in result.output, result.output
