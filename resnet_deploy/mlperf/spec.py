"""What the parent and one scenario's process (child.py) tell each other, as JSON: the spec
the parent writes before starting it, and the status file it leaves behind. Both sides read
and write them here, and agree here on the exit code a failed run ends with."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ValidationError

from resnet_deploy.atomic import write_json
from resnet_deploy.jsontypes import JsonObject

# The exit codes a failed run keeps: a check failed, bad input, a missing dependency, Ctrl-C, SIGTERM.
FAILURE_CODES = (1, 2, 3, 130, 143)


def failure_code(code: int | None) -> int:
    """The exit code a failed run ends with: its own when it is one of FAILURE_CODES, else 1
    (0, a signal, a crash's own code)."""
    return code if code in FAILURE_CODES else 1


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


class RunStatus(BaseModel):
    """The outcome one scenario's process leaves in its status file: written at the end of a
    good run, or by the fault handler (the one-line error and the exit code) just before the
    process exits with that code."""

    ok: bool
    error: str | None = None
    exit_code: int | None = None
    loaded_samples_left: int | None = None
    response_dtype: str | None = None  # numpy dtype of LoadGen's responses (int32 classes, or the plan's logits)
    threads: int | None = None

    @classmethod
    def failed(cls, message: str, code: int | None) -> RunStatus:
        return cls(ok=False, error=message, exit_code=failure_code(code))

    def write(self, path: str | os.PathLike[str]) -> None:
        """Atomically and durably (atomic.write_json): the parent reads it only after this
        process is gone."""
        write_json(path, self.model_dump(exclude_none=True))

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> RunStatus | None:
        """The status a process left, or None when it left none (or an unreadable one)."""
        try:
            return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValidationError):
            return None
