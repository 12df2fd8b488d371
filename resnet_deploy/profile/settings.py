"""What every profiler shares: the settings of a run, the input it feeds and the end-to-end
timer (one place, so each runtime's profile is measured the same way)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from resnet_deploy.backends.base import Runner
from resnet_deploy.backends.registry import BackendInfo, RunOptions, check_run_precision
from resnet_deploy.bench.stats import summarize
from resnet_deploy.errors import InvalidInputError


@dataclass(frozen=True)
class ProfileSettings:
    """`iterations` measured runs after `warmup` unmeasured ones, at `batch_size`, on seeded
    random input. `threads` for CPU backends; `precision` for backends that take a run
    precision (torch autocast)."""

    iterations: int = 50
    warmup: int = 5
    batch_size: int = 1
    threads: int | None = None
    precision: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise InvalidInputError(f"`iterations` must be at least 1, got {self.iterations}", param="iterations")
        if self.warmup < 0:
            raise InvalidInputError(f"`warmup` must be 0 or more, got {self.warmup}", param="warmup")
        if self.batch_size < 1:
            raise InvalidInputError(f"`batch_size` must be at least 1, got {self.batch_size}", param="batch_size")

    def run_options(self, info: BackendInfo, **extra: object) -> RunOptions:
        """The registry's RunOptions for `info`: threads and precision where it takes them
        (refused by `open_runner` where it does not)."""
        threads = self.threads if "threads" in info.options else None
        if self.threads is not None and threads is None:
            raise InvalidInputError(f"backend '{info.name}' does not take `threads`", param="threads")
        if self.precision is not None:
            check_run_precision(info.name, self.precision)
        return RunOptions(threads=threads, precision=self.precision, extra=extra)


def random_feeds(runner: Runner, settings: ProfileSettings) -> dict[str, np.ndarray]:
    """One seeded standard-normal batch for the runner's input (its fixed batch if it has one)."""
    info = runner.inputs()[0]
    low, high = runner.batch_limits()
    batch = low if high is not None and low == high else settings.batch_size
    if high is not None and not low <= batch <= high:
        raise InvalidInputError(f"batch {batch} is outside the model's batch range {low}..{high}", param="batch_size")
    shape = (batch, *(int(d) if isinstance(d, int) and d > 0 else 1 for d in info.shape[1:]))
    rng = np.random.default_rng(settings.seed)
    return {info.name: rng.standard_normal(shape).astype(info.dtype)}


def timed_runs(run: Callable[[], object], settings: ProfileSettings) -> list[float]:
    """`warmup` calls, then the milliseconds of each of `iterations` calls."""
    for _ in range(settings.warmup):
        run()
    times = []
    for _ in range(settings.iterations):
        start = time.perf_counter_ns()
        run()
        times.append((time.perf_counter_ns() - start) / 1e6)
    return times


def median_ms(values: list[float]) -> float:
    return summarize(values).median
