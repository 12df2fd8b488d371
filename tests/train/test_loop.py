from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from resnet_deploy.errors import ArtifactError, CheckFailedError, InvalidInputError
from resnet_deploy.models import build_model
from resnet_deploy.train import loop
from resnet_deploy.train.checkpoint import load_checkpoint
from resnet_deploy.train.loop import param_groups, train
from resnet_deploy.train.schedule import lr_factor


def test_lr_schedules() -> None:
    common = dict(total_steps=100, warmup_steps=10, milestones=(0.5, 0.75), gamma=0.1)
    assert lr_factor(0, schedule="cosine", **common) == pytest.approx(0.1)  # type: ignore[arg-type]
    assert lr_factor(9, schedule="cosine", **common) == pytest.approx(1.0)  # type: ignore[arg-type]
    assert lr_factor(55, schedule="cosine", **common) == pytest.approx(0.5)  # type: ignore[arg-type]
    assert lr_factor(100, schedule="cosine", **common) == pytest.approx(0.0)  # type: ignore[arg-type]
    steps = [lr_factor(s, schedule="multistep", **common) for s in (20, 49, 50, 74, 75, 99)]  # type: ignore[arg-type]
    assert steps == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    assert lr_factor(80, schedule="constant", **common) == 1.0  # type: ignore[arg-type]


def test_no_weight_decay_on_batchnorm_and_bias() -> None:
    model = build_model("resnet20")
    decay, no_decay = param_groups(model, 5e-4)
    assert no_decay["weight_decay"] == 0 and all(p.ndim == 1 for p in no_decay["params"])
    assert all(p.ndim > 1 for p in decay["params"])
    assert any(p is model.fc.bias for p in no_decay["params"]) and any(p is model.bn1.weight for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_tiny_run_writes_checkpoints_metrics_and_curves(tiny: Any) -> None:
    config = tiny(epochs=2, plot=True)
    result = train(config, progress=False)
    out = Path(config.out)
    for name in ("last.safetensors", "last.safetensors.json", "best.safetensors", "train_state.pt",
                 "train_state.pt.json", "metrics.jsonl", "curves.png"):
        assert (out / name).is_file(), name
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2] and lines == [row.to_dict() for row in result.history]
    assert {"train_loss", "train_top1", "val_loss", "val_top1", "val_top5", "lr", "train_images_per_s"} <= set(lines[0])
    ckpt = load_checkpoint(result.last_checkpoint, expected_model="resnet20")
    assert ckpt.meta.epoch == 2 and ckpt.model_kwargs == {"num_classes": 10, "in_channels": 1}
    assert ckpt.input_spec.height == 16 and ckpt.meta.dataset == "digits"
    assert load_checkpoint(result.best_checkpoint).meta.epoch == result.best_epoch
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporaries
    with pytest.raises(InvalidInputError, match="already holds a training run; set `resume`"):
        train(config, progress=False)


def test_options_ema_channels_last_bf16_clip_multistep(tiny: Any) -> None:
    config = tiny(ema=0.9, channels_last=True, amp="bf16", grad_clip=1.0, schedule="multistep", nesterov=False,
                  label_smoothing=0.0)
    result = train(config, progress=False)
    state = torch.load(Path(config.out) / "train_state.pt", weights_only=True)
    assert state["ema"]["updates"] == 2 and math.isfinite(result.history[0].train_loss)
    with pytest.raises(InvalidInputError, match="fp16 needs a CUDA device"):
        train(tiny("fp16", amp="fp16"), progress=False)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tiny: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}

    class PoisonAfterEpochOne(nn.Module):
        def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            calls["n"] += 1
            loss = nn.functional.cross_entropy(logits, labels)
            return loss * float("nan") if calls["n"] > 2 else loss  # 2 steps per epoch

    monkeypatch.setattr(loop, "make_criterion", lambda config: PoisonAfterEpochOne())
    config = tiny(epochs=3)
    with pytest.raises(CheckFailedError, match=r"loss became nan at epoch 2 step 1.*last good checkpoint .*last.safetensors' \(epoch 1\)"):
        train(config, progress=False)
    assert load_checkpoint(Path(config.out) / "last.safetensors").meta.epoch == 1
    assert len((Path(config.out) / "metrics.jsonl").read_text().splitlines()) == 1


def test_resume_refuses_another_model(tiny: Any) -> None:
    train(tiny("a"), progress=False)
    with pytest.raises(ArtifactError, match="is a resnet20 run on digits, not resnet32"):
        train(tiny("a", model="resnet32", resume=True), progress=False)
    done = train(tiny("a", resume=True), progress=False)  # already finished: nothing to do
    assert done.epochs_run == 0 and len(done.history) == 1


def test_init_from_and_data_errors(tiny: Any, tmp_path: Path) -> None:
    pth = tmp_path / "r20.pth"
    torch.save(build_model("resnet20", num_classes=10, in_channels=3).state_dict(), pth)
    with pytest.raises(InvalidInputError, match=r"shape mismatches: conv1.weight \(16, 3, 3, 3\) vs \(16, 1, 3, 3\)"):
        train(tiny("init", init_from=pth), progress=False)
    with pytest.raises(InvalidInputError, match=r"mnist folder|MNIST folder '.*nowhere' does not exist"):
        train(tiny("mnist", dataset="mnist", data_dir=tmp_path / "nowhere"), progress=False)
