"""The training state (`train_state.pt`): raw weights, optimizer, scheduler, scaler, EMA, RNG
states and history, written with its sidecar and read back with weights_only=True."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from resnet_deploy.errors import ArtifactError
from resnet_deploy.sidecar import artifact_meta, new_sidecar, write_artifact

STATE_KIND = "training-state"
STATE_FORMAT = 1


def save_train_state(path: Path, state: dict[str, Any], *, epoch: int, model: str, dataset: str) -> None:
    """Write `state` and its sidecar crash-consistently (sidecar.write_artifact)."""
    write_artifact(path, lambda tmp: torch.save({"format": STATE_FORMAT, **state}, tmp),
                   new_sidecar(STATE_KIND, None, epoch=epoch, model=model, dataset=dataset))


def load_train_state(path: Path) -> dict[str, Any]:
    """The training state, checked against its sidecar and read with weights_only=True."""
    artifact_meta(path, kind=STATE_KIND)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt file raises several types
        raise ArtifactError(f"training state '{path}' cannot be read ({type(exc).__name__}); delete it to start over") from exc
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ArtifactError(f"'{path}' is not a resnet-deploy training state")
    return state
