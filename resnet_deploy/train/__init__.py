"""Training: the loop (`train(TrainConfig)`), checkpoints, evaluation and the degradation
experiment.

    from resnet_deploy.train import TrainConfig, train
    result = train(TrainConfig(model="resnet20", dataset="digits", out="runs/r20"))
    result.best_checkpoint   # runs/r20/best.safetensors (+ .json sidecar)

Submodules are imported on first use so `import resnet_deploy.train.checkpoint` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Checkpoint", "TrainConfig", "TrainResult", "init_from", "load_checkpoint", "save_checkpoint", "train"]

_HOME = {"Checkpoint": "checkpoint", "init_from": "checkpoint", "load_checkpoint": "checkpoint",
         "save_checkpoint": "checkpoint", "TrainConfig": "config", "TrainResult": "loop", "train": "loop"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(f"resnet_deploy.train.{_HOME[name]}"), name)
    raise AttributeError(f"module 'resnet_deploy.train' has no attribute {name!r}")
