"""Export from a checkpoint and validate on real images (the bundled digits): the reference
comes from the checkpoint recorded in the model; mismatched checkpoints are refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from resnet_deploy.compare import validate_onnx
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.export import export_onnx, read_onnx_metadata
from resnet_deploy.input_spec import InputSpec
from resnet_deploy.models import build_model

checkpoint_module = pytest.importorskip("resnet_deploy.train.checkpoint", reason="training checkpoints not present")


@pytest.fixture(scope="module")
def digits_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A resnet20 for 1x32x32 digits with (untrained) weights, saved as a real checkpoint."""
    path = tmp_path_factory.mktemp("ckpt") / "r20_digits.safetensors"
    model = build_model("resnet20", num_classes=10, in_channels=1)
    spec = InputSpec(1, 32, 32, (0.5,), (0.5,), class_names=tuple(str(i) for i in range(10)))
    checkpoint_module.save_checkpoint(path, model, model_name="resnet20", model_kwargs={"num_classes": 10, "in_channels": 1},
                                      input_spec=spec, dataset="digits", epoch=1, metrics={})
    return path


@pytest.fixture(scope="module")
def digits_onnx(digits_checkpoint: Path) -> Path:
    path = digits_checkpoint.with_name("r20_digits.onnx")
    export_onnx(path, checkpoint=digits_checkpoint, exporter="torchscript")
    return path


def test_checkpoint_metadata(digits_onnx: Path, digits_checkpoint: Path) -> None:
    meta = read_onnx_metadata(digits_onnx)
    loaded = checkpoint_module.load_checkpoint(digits_checkpoint)
    assert meta["architecture"] == "resnet20" and meta["trained"] is True
    assert meta["checkpoint_sha256"] == loaded.sha256 and meta["init_seed"] is None
    assert meta["model_kwargs"] == {"num_classes": 10, "in_channels": 1}
    assert meta["input_spec"]["channels"] == 1 and meta["input_spec"]["mean"] == [0.5]


def test_validate_on_digits_with_recorded_checkpoint(digits_onnx: Path) -> None:
    report = validate_onnx(digits_onnx, dataset="digits", limit=64, batch_sizes=(1, 16))
    assert report, report.failures()
    assert report.reference.kind == "checkpoint" and report.inputs["kind"] == "dataset"
    for pair in report.comparisons:
        assert pair.outputs["logits"].top1_agreement == 1.0 and pair.outputs["logits"].max_abs <= 1e-4
        assert pair.accuracy == report.reference_accuracy


def test_checkpoint_for_another_architecture(digits_checkpoint: Path, digits_onnx: Path, r18_dynamo: Path,
                                             tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="resnet20"):
        export_onnx(tmp_path / "m.onnx", model="resnet18", checkpoint=digits_checkpoint)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InvalidInputError, match="resnet20"):
        validate_onnx(r18_dynamo, checkpoint=digits_checkpoint, random=2)


def test_missing_recorded_checkpoint_needs_the_flag(digits_checkpoint: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.safetensors"
    shutil.copy(digits_checkpoint, copy)
    shutil.copy(digits_checkpoint.with_name(digits_checkpoint.name + ".json"), tmp_path / "copy.safetensors.json")
    export_onnx(tmp_path / "m.onnx", checkpoint=copy, exporter="torchscript")
    copy.unlink()
    with pytest.raises(InvalidInputError, match="`reference`"):
        validate_onnx(tmp_path / "m.onnx", random=2)
    assert validate_onnx(tmp_path / "m.onnx", checkpoint=digits_checkpoint, random=4, batch_sizes=(2,))
