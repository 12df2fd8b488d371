from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from resnet_deploy.errors import ArtifactError, InvalidInputError
from resnet_deploy.input_spec import InputSpec
from resnet_deploy.models import build_model
from resnet_deploy.train.checkpoint import (
    init_from,
    load_checkpoint,
    load_foreign_state_dict,
    save_checkpoint,
)

SPEC = InputSpec(1, 32, 32, (0.3,), (0.32,), class_names=tuple(str(i) for i in range(10)))
KWARGS = {"num_classes": 10, "in_channels": 1}


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    model = build_model("resnet20", **KWARGS)
    path = save_checkpoint(tmp_path / "best.safetensors", model, model_name="resnet20", model_kwargs=KWARGS,
                           input_spec=SPEC, dataset="digits", epoch=3, metrics={"val_top1": 0.9})
    return path, model


def test_round_trip_and_sidecar_fields(saved: tuple[Path, torch.nn.Module]) -> None:
    path, model = saved
    meta = json.loads(Path(str(path) + ".json").read_text())
    assert meta["kind"] == "checkpoint" and meta["architecture"] == {"name": "resnet20", "kwargs": KWARGS}
    assert meta["num_classes"] == 10 and meta["input_spec"]["mean"] == [0.3] and meta["dataset"] == "digits"
    assert meta["epoch"] == 3 and meta["metrics"]["val_top1"] == 0.9 and len(meta["sha256"]) == 64
    assert meta["library_versions"]["torch"] and meta["toolkit_version"]
    ckpt = load_checkpoint(path, expected_model="resnet20")
    assert not ckpt.model.training and ckpt.input_spec == SPEC and ckpt.num_classes == 10
    x = torch.randn(2, 1, 32, 32)
    model.eval()
    torch.testing.assert_close(ckpt.model(x), model(x))


def test_refusals_are_one_line(saved: tuple[Path, torch.nn.Module], tmp_path: Path) -> None:
    path, _ = saved
    sidecar = Path(str(path) + ".json")
    with pytest.raises(ArtifactError, match="holds a resnet20, not a resnet56"):
        load_checkpoint(path, expected_model="resnet56")
    with pytest.raises(ArtifactError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="sha256"):
        load_checkpoint(path)
    meta = json.loads(sidecar.read_text())
    meta.pop("sha256")
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="truncated or corrupt"):  # no hash to compare: safetensors refuses
        load_checkpoint(path)
    sidecar.write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_checkpoint(path)
    sidecar.unlink()
    with pytest.raises(ArtifactError, match="truncated or corrupt"):  # the header copy cannot be read either
        load_checkpoint(path)
    path.write_bytes(data)
    Path(str(path) + ".json").write_text('{"kind": "checkpoint", "architecture": "garbage", "input_spec": {}}')
    with pytest.raises(ArtifactError, match="architecture"):  # a hand-edited sidecar: one line, not a traceback
        load_checkpoint(path)


def test_a_checkpoint_without_its_sidecar_loads_from_its_header(saved: tuple[Path, torch.nn.Module]) -> None:
    """The sidecar is a copy of what the safetensors header holds: losing it loses nothing."""
    path, model = saved
    Path(str(path) + ".json").unlink()
    ckpt = load_checkpoint(path, expected_model="resnet20")
    assert ckpt.input_spec == SPEC and ckpt.num_classes == 10 and ckpt.meta.epoch == 3
    x = torch.randn(2, 1, 32, 32)
    torch.testing.assert_close(ckpt.model(x), model.eval()(x))


def test_weights_that_do_not_fit_the_architecture(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "a.safetensors", build_model("resnet20", **KWARGS), model_name="resnet20",
                           model_kwargs=KWARGS, input_spec=SPEC, dataset=None, epoch=None, metrics=None)
    sidecar = Path(str(path) + ".json")
    meta = json.loads(sidecar.read_text())
    meta["architecture"]["name"] = "resnet32"
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match=r"does not fit resnet32: missing keys: layer1.3"):
        load_checkpoint(path)
    with pytest.raises(InvalidInputError, match="must include in_channels"):
        save_checkpoint(tmp_path / "b.safetensors", build_model("resnet20"), model_name="resnet20",
                        model_kwargs={"num_classes": 10}, input_spec=SPEC, dataset=None, epoch=None, metrics=None)


def test_init_from_torchvision_pth(tmp_path: Path, torchvision_models) -> None:  # type: ignore[no-untyped-def]
    reference = torchvision_models.resnet18(num_classes=10)
    pth = tmp_path / "tv.pth"
    torch.save(reference.state_dict(), pth)
    ours = build_model("resnet18", num_classes=10)
    report = init_from(ours, pth)
    assert "fc.weight" in report["loaded"] and not report["skipped"]
    x = torch.randn(1, 3, 32, 32)
    reference.eval()
    ours.eval()
    torch.testing.assert_close(ours(x), reference(x))
    # a 1000-class head does not fit a 10-class model unless asked to skip it
    torch.save({"state_dict": torchvision_models.resnet18().state_dict()}, pth)
    with pytest.raises(InvalidInputError, match=r"shape mismatches: fc.weight \(1000, 512\) vs \(10, 512\)"):
        init_from(build_model("resnet18", num_classes=10), pth)
    assert init_from(build_model("resnet18", num_classes=10), pth, skip_mismatched=True)["skipped"] == ["fc.weight", "fc.bias"]


def test_init_from_lists_missing_and_unexpected_keys(tmp_path: Path) -> None:
    pth = tmp_path / "other.pth"
    state = build_model("resnet20", **KWARGS).state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["fc.bias"]
    torch.save({f"module.{k}": v for k, v in state.items()}, pth)  # DDP prefix is removed
    with pytest.raises(InvalidInputError, match=r"missing keys: fc.bias; unexpected keys: extra.weight"):
        init_from(build_model("resnet20", **KWARGS), pth)
    (tmp_path / "bad.pth").write_bytes(b"garbage")
    with pytest.raises(ArtifactError, match="weights-only PyTorch state dict"):
        load_foreign_state_dict(tmp_path / "bad.pth")
