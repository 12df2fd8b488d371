"""PNG figures written with matplotlib's Agg backend (no display needed), atomically."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet_deploy.atomic import atomic_write_with

if TYPE_CHECKING:
    from resnet_deploy.train.loop import EpochMetrics


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    plt = _pyplot()
    try:
        return atomic_write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    finally:
        plt.close(fig)


def plot_curves(history: Sequence[EpochMetrics], path: str | os.PathLike[str], title: str) -> Path:
    """Loss and top-1 error per epoch, training and validation."""
    plt = _pyplot()
    epochs = [h.epoch for h in history]
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [h.train_loss for h in history], label="train")
    ax_loss.plot(epochs, [h.val_loss for h in history], label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_err.plot(epochs, [100 * (1 - h.train_top1) for h in history], label="train")
    ax_err.plot(epochs, [100 * (1 - h.val_top1) for h in history], label="validation")
    ax_err.set(xlabel="epoch", ylabel="top-1 error (%)", title="error")
    for ax in (ax_loss, ax_err):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return _save(fig, path)


def plot_confusion(matrix: Sequence[Sequence[int]], class_names: Sequence[str], path: str | os.PathLike[str],
                   title: str) -> Path:
    """Rows: true class, columns: predicted class; counts written in the cells when few classes."""
    import numpy as np

    plt = _pyplot()
    m = np.asarray(matrix)
    n = len(class_names)
    side = min(4 + 0.45 * n, 24)
    fig, ax = plt.subplots(figsize=(side, side))
    ax.imshow(m, cmap="Blues")
    if n <= 30:
        ax.set_xticks(range(n), class_names, rotation=90)
        ax.set_yticks(range(n), class_names)
        threshold = m.max() / 2 if m.size else 0
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if m[i, j] > threshold else "black")
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return _save(fig, path)


MAX_LINES = 6  # lines per chart a reader can still follow


def _depth(name: str) -> int:
    digits = "".join(c for c in name if c.isdigit())
    return int(digits) if digits else 0


def plot_degradation(runs: Mapping[str, Sequence[EpochMetrics]], path: str | os.PathLike[str],
                     title: str) -> Path:
    """The paper's Figure 6 layout: plain nets left, residual nets right; training error
    dashed, validation error solid, one colour per depth (the same in both panels). With more
    than three depths, training and validation error get a row each, so no chart holds more
    than MAX_LINES lines."""
    plt = _pyplot()
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    depths = sorted({_depth(name) for name in runs})
    per_family = max(sum(1 for n in runs if n.startswith("plain")), sum(1 for n in runs if not n.startswith("plain")))
    split = 2 * per_family > MAX_LINES
    fig, axes = plt.subplots(2 if split else 1, 2, figsize=(11, 7.6 if split else 4.2), sharey=True, squeeze=False)
    for name, history in sorted(runs.items(), key=lambda kv: (_depth(kv[0]), kv[0])):
        column = 0 if name.startswith("plain") else 1
        colour = colours[depths.index(_depth(name)) % len(colours)]
        epochs = [h.epoch for h in history]
        train = [100 * (1 - h.train_top1) for h in history]
        val = [100 * (1 - h.val_top1) for h in history]
        axes[0][column].plot(epochs, train, "-" if split else "--", color=colour, label=f"{name} train")
        (axes[1][column] if split else axes[0][column]).plot(epochs, val, "-", color=colour, label=f"{name} val")
    for row, what in enumerate(["training", "validation"] if split else ["training (dashed) and validation"]):
        axes[row][0].set(title=f"plain: {what} error" if split else "plain", ylabel="top-1 error (%)")
        axes[row][1].set(title=f"residual: {what} error" if split else "residual")
    for ax in axes[-1]:
        ax.set(xlabel="epoch")
    for ax in (ax for row in axes for ax in row):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
