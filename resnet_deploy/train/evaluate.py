"""Evaluation: `evaluate_model` (loss, top-1, top-5 over a loader; the training loop validates
with it) and a checkpoint on a dataset split: top-1, top-5, per-class accuracy, confusion matrix.

The split is read at the checkpoint's input size through the evaluation transform, and the
dataset must agree with the checkpoint on channels and number of classes; a mismatch is an
InvalidInputError before any work.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.topk import top_k
from resnet_deploy.train.checkpoint import load_checkpoint

log = logging.getLogger(__name__)


def autocast(amp: str, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """Mixed precision for `amp` ("off", "bf16", "fp16") on `device`'s type."""
    if amp == "off":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


@dataclass(frozen=True)
class EvalCounts:
    """Sums over a loader (this rank's share): loss x samples, top-1 and top-5 hits, samples;
    with `num_classes`, the confusion matrix (rows true, columns predicted)."""

    loss_sum: float
    top1_count: float
    top5_count: float
    count: int
    confusion: torch.Tensor | None = None


@torch.no_grad()
def evaluate_model(model: nn.Module, loader: DataLoader[Any], device: torch.device, *, amp: str = "off",
                   channels_last: bool = False, criterion: nn.Module | None = None,
                   num_classes: int | None = None) -> EvalCounts:
    """Loss, top-1 and top-5 over a loader (this rank's share); with `num_classes`, also the
    confusion matrix (rows true, columns predicted)."""
    model.eval()
    criterion = criterion or nn.CrossEntropyLoss()
    loss_sum, top1, top5, seen = 0.0, 0.0, 0.0, 0
    matrix = torch.zeros((num_classes, num_classes), dtype=torch.int64) if num_classes else None
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast(amp, device):
            logits = model(images).float()
        loss_sum += float(criterion(logits, labels)) * labels.shape[0]
        predicted = torch.from_numpy(top_k(logits.detach().cpu().numpy(), 5))
        truth = labels.cpu()
        top1 += float((predicted[:, 0] == truth).sum())
        top5 += float((predicted == truth[:, None]).any(dim=1).sum())
        seen += labels.shape[0]
        if matrix is not None and num_classes:
            flat = truth * num_classes + predicted[:, 0]
            matrix += torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)
    return EvalCounts(loss_sum, top1, top5, seen, matrix)


@dataclass
class EvalResult:
    checkpoint: Path
    model_name: str
    dataset: str
    split: str
    count: int
    top1: float
    top5: float
    loss: float
    per_class: dict[str, float]     # class name -> accuracy (NaN-free: classes with no samples are left out)
    confusion: list[list[int]]      # rows: true class, columns: predicted
    class_names: list[str]
    seconds: float
    confusion_png: Path | None

    def to_dict(self) -> JsonObject:
        return {"checkpoint": str(self.checkpoint), "model": self.model_name, "dataset": self.dataset,
                "split": self.split, "count": self.count, "top1": self.top1, "top5": self.top5, "loss": self.loss,
                "per_class": self.per_class, "confusion": self.confusion, "class_names": self.class_names,
                "seconds": round(self.seconds, 3),
                "confusion_png": None if self.confusion_png is None else str(self.confusion_png)}


def evaluate_checkpoint(checkpoint: str | os.PathLike[str], dataset: str, data_dir: str | os.PathLike[str] | None = None,
                        *, split: str = "val", expected_model: str | None = None, batch_size: int = 256,
                        limit: int | None = None, confusion_png: str | os.PathLike[str] | None = None,
                        device: str = "cpu") -> EvalResult:
    from resnet_deploy.data import load_dataset
    from resnet_deploy.train.distributed import pick_device

    start = time.perf_counter()
    ckpt = load_checkpoint(checkpoint, expected_model=expected_model)
    spec = ckpt.input_spec
    data, info = load_dataset(dataset, split, data_dir, augment=False, input_size=spec.height)
    if info.input_spec.channels != spec.channels:
        raise InvalidInputError(f"checkpoint '{checkpoint}' takes {spec.channels}-channel images but {dataset} has "
                                f"{info.input_spec.channels}; evaluate it on the dataset it was trained on")
    if info.num_classes != ckpt.num_classes:
        raise InvalidInputError(f"checkpoint '{checkpoint}' has {ckpt.num_classes} classes but {dataset} has "
                                f"{info.num_classes}; evaluate it on the dataset it was trained on")
    if tuple(info.input_spec.mean) != tuple(spec.mean) or tuple(info.input_spec.std) != tuple(spec.std):
        log.warning("%s normalises with mean %s std %s, the checkpoint was trained with mean %s std %s",
                    dataset, info.input_spec.mean, info.input_spec.std, spec.mean, spec.std)
    if limit is not None:
        data = Subset(data, range(min(limit, len(data))))  # type: ignore[arg-type]
    dev = pick_device(device)
    model = ckpt.model.to(dev)
    loader = DataLoader(data, batch_size=batch_size, shuffle=False)
    stats = evaluate_model(model, loader, dev, num_classes=ckpt.num_classes, criterion=torch.nn.CrossEntropyLoss())
    count = max(1, stats.count)
    matrix = stats.confusion
    assert matrix is not None  # asked for with num_classes
    names = list(info.class_names)
    per_class = {names[i]: float(matrix[i, i] / matrix[i].sum()) for i in range(len(names)) if matrix[i].sum() > 0}
    png = None
    if confusion_png is not None:
        from resnet_deploy.train.plots import plot_confusion

        png = plot_confusion(matrix.tolist(), names, confusion_png,
                             f"{ckpt.model_name} on {dataset}/{split}: top-1 {100 * stats.top1_count / count:.2f}%")
    return EvalResult(Path(checkpoint), ckpt.model_name, dataset, split, stats.count, stats.top1_count / count,
                      stats.top5_count / count, stats.loss_sum / count, per_class, matrix.tolist(), names,
                      time.perf_counter() - start, png)
