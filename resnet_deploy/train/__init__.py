"""Training: the loop (`train(TrainConfig)`), checkpoints, evaluation and the degradation
experiment.

    from resnet_deploy.train import TrainConfig, train
    result = train(TrainConfig(model="resnet20", dataset="digits", out="runs/r20"))
    result.best_checkpoint   # runs/r20/best.safetensors (+ .json sidecar)

Submodules are imported on first use so `import resnet_deploy.train.checkpoint` stays light.
"""

from __future__ import annotations

from resnet_deploy.optional import lazy_exports

__all__ = ["Checkpoint", "TrainConfig", "TrainResult", "init_from", "load_checkpoint", "save_checkpoint", "train"]

_HOME = {
    "Checkpoint": "resnet_deploy.train.checkpoint", "init_from": "resnet_deploy.train.checkpoint",
    "load_checkpoint": "resnet_deploy.train.checkpoint", "save_checkpoint": "resnet_deploy.train.checkpoint",
    "TrainConfig": "resnet_deploy.train.config", "TrainResult": "resnet_deploy.train.loop",
    "train": "resnet_deploy.train.loop",
}


__getattr__ = lazy_exports(__name__, _HOME)
