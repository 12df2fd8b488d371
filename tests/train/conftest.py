from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from resnet_deploy.train.config import TrainConfig


def tiny_config(out: Path, **overrides: Any) -> TrainConfig:
    """ResNet-20 on 64 digits at 16x16: about a second per epoch on one core."""
    values: dict[str, Any] = dict(model="resnet20", dataset="digits", out=out, epochs=1, batch_size=32,
                                  input_size=16, train_limit=64, val_limit=64, device="cpu", plot=False)
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture
def tiny(tmp_path: Path) -> Any:
    return lambda name="run", **kw: tiny_config(tmp_path / name, **kw)
