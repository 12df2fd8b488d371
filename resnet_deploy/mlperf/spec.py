"""What the parent tells one scenario's process (child.py), as JSON."""

from __future__ import annotations

from pydantic import BaseModel

from resnet_deploy.jsontypes import JsonObject


class ChildSpec(BaseModel):
    """Everything one scenario's process needs (written by the parent as JSON)."""

    scenario: str
    mode: str  # performance | accuracy
    user_conf: str
    log_dir: str
    status: str
    samples: str
    source: str | None = None  # in-process: the artifact or model name
    backend: str | None = None
    threads: int | None = None
    run_options: JsonObject = {}  # RunOptions.to_dict()
    server: str | None = None  # Triton: the address and the model name (`source`)
    predictor: str | None = None  # MODULE:FUNCTION returning a Predictor
    batch_size: int = 1
    workers: int = 1
    batch_timeout_ms: float = 2.0
    lost_grace_s: float = 2.0
    cuda_graphs: bool = True
