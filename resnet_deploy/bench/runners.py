"""Turn a bench BackendSpec (a backend, the artifact or model it runs, its options) into a
runner, through the backend registry (resnet_deploy.backends.registry), which checks that the
runtime is installed, that it runs this kind of artifact and that it takes the options."""

from __future__ import annotations

from dataclasses import replace

from resnet_deploy.backends.base import Runner
from resnet_deploy.backends.registry import get_backend
from resnet_deploy.backends.registry import open_runner as open_backend
from resnet_deploy.bench.config import BackendSpec
from resnet_deploy.errors import InvalidInputError


def open_runner(spec: BackendSpec, *, threads: int | None = None, input_size: tuple[int, int] | None = None) -> Runner:
    """A runner for `spec`, not yet activated. `threads` and `input_size` apply to the
    backends that honour them (CPU threads: not GPU backends; input size: torch)."""
    info = get_backend(spec.backend)
    source = spec.artifact if spec.artifact is not None else spec.model
    if source is None:
        what = "a checkpoint or a model name" if info.artifact == "checkpoint" else f"an {info.artifact} file"
        raise InvalidInputError(f"backend '{spec.backend}' needs {what}", param="backend")
    run = replace(spec.options, threads=threads if "threads" in info.options else None,
                  input_size=input_size if "input_size" in info.options else None)
    return open_backend(spec.backend, source, run)
