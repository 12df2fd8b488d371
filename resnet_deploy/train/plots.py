"""PNG figures written with matplotlib's Agg backend (no display needed), atomically."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from resnet_deploy.artifacts import atomic_write_with


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


def plot_curves(history: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], title: str) -> Path:
    """Loss and top-1 error per epoch, training and validation."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], label="train")
    ax_loss.plot(epochs, [h["val_loss"] for h in history], label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_err.plot(epochs, [100 * (1 - h["train_top1"]) for h in history], label="train")
    ax_err.plot(epochs, [100 * (1 - h["val_top1"]) for h in history], label="validation")
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


def plot_degradation(runs: Mapping[str, Sequence[Mapping[str, Any]]], path: str | os.PathLike[str],
                     title: str) -> Path:
    """The paper's Figure 6 layout: plain nets left, residual nets right; training error
    dashed, validation error solid, one colour per depth."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    panels = {"plain": axes[0], "resnet": axes[1]}
    for index, (name, history) in enumerate(sorted(runs.items(), key=lambda kv: (len(kv[0]), kv[0]))):
        family = "plain" if name.startswith("plain") else "resnet"
        ax = panels[family]
        colour = colours[index % len(colours)]
        epochs = [h["epoch"] for h in history]
        ax.plot(epochs, [100 * (1 - h["train_top1"]) for h in history], "--", color=colour, label=f"{name} train")
        ax.plot(epochs, [100 * (1 - h["val_top1"]) for h in history], "-", color=colour, label=f"{name} val")
    axes[0].set(title="plain", xlabel="epoch", ylabel="top-1 error (%)")
    axes[1].set(title="residual", xlabel="epoch")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)
