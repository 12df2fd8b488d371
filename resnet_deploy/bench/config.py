"""What to benchmark and how: the backends, batch sizes, warm-up and measured run length."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import overload

from resnet_deploy.backends.registry import RunOptions, get_backend
from resnet_deploy.bench.stats import (
    DEFAULT_CV_THRESHOLD,
    DEFAULT_PERCENTILES,
    MIN_SAMPLES,
    parse_percentiles,
)
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.jsontypes import JsonObject

DEFAULT_DURATION_S = 3.0


@dataclass(frozen=True)
class Warmup:
    """Warm-up before each batch size, outside the measured loop: a count or a duration."""

    iterations: int | None = None
    seconds: float | None = None

    @classmethod
    def parse(cls, text: str | int | float | None) -> Warmup:
        """`"10"` -> 10 iterations, `"2s"` / `"500ms"` -> seconds, None -> 0.5 s. Negative or
        non-finite values are refused."""
        if text is None:
            return cls(seconds=0.5)
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            text = str(int(text))
        raw = str(text).strip().lower()
        try:
            if raw.endswith("ms"):
                seconds = float(raw[:-2]) / 1000.0
            elif raw.endswith("s"):
                seconds = float(raw[:-1])
            else:
                iterations = int(raw)
                if iterations < 0:
                    raise ValueError(raw)
                return cls(iterations=iterations)
        except ValueError:
            raise InvalidInputError(f"`warmup` takes iterations (10) or seconds (2s, 500ms) >= 0, got {text!r}",
                                    param="warmup") from None
        if not math.isfinite(seconds) or seconds < 0:
            raise InvalidInputError(f"`warmup` takes iterations (10) or seconds (2s, 500ms) >= 0, got {text!r}",
                                    param="warmup")
        return cls(seconds=seconds)

    def describe(self) -> str:
        return f"{self.iterations} iterations" if self.iterations is not None else f"{self.seconds or 0:g} s"


@dataclass(frozen=True)
class BackendSpec:
    """One column of a comparison: a backend name and the artifact or model it runs.

    `artifact` is an ONNX model (ort-*, openvino), a plan (tensorrt) or a checkpoint (torch*);
    `model` names a registry model for torch backends without a checkpoint. `options` go to
    the runner (e.g. RunOptions(precision="fp16", channels_last=True) for torch).
    """

    backend: str
    artifact: Path | None = None
    model: str | None = None
    label: str | None = None
    options: RunOptions = field(default_factory=RunOptions)

    @property
    def name(self) -> str:
        """The label shown in tables and plots."""
        if self.label:
            return self.label
        return self.label_for(self.options.precision)

    def label_for(self, precision: str | None) -> str:
        """The default label, naming the run precision when one was asked for."""
        source = self.artifact.name if self.artifact is not None else self.model
        parts = [p for p in (source, precision) if p]
        return f"{self.backend} ({', '.join(parts)})" if parts else self.backend

    @property
    def is_gpu(self) -> bool:
        return get_backend(self.backend).needs_gpu or str(self.options.device or "cpu").startswith("cuda")

    def to_dict(self) -> JsonObject:
        return {"backend": self.backend, "artifact": str(self.artifact) if self.artifact else None,
                "model": self.model, "label": self.name, "options": self.options.to_dict()}


@dataclass
class BenchConfig:
    """Everything one `run_benchmark` call needs.

    Run length: with `iterations` alone exactly that many; with `duration_s` alone until that
    much time has passed and at least `min_iterations` ran; with both, until both are met
    (trtexec). The defaults (3 s, at least 30 iterations) pass the trust rule the results are
    judged by (stats.MIN_SAMPLES samples and stats.MIN_MEASURED_SECONDS of measurement), so
    a default run is never flagged "too short".
    `batch_sizes` None means powers of two within the artifact's batch limits, capped by
    `max_default_batch` and `memory_budget_bytes`, and cut off before a point predicted to
    take more than `max_point_seconds` to time, or once one iteration takes longer than
    `max_iteration_seconds`.
    """

    backends: list[BackendSpec]
    batch_sizes: list[int] | None = None
    warmup: Warmup = field(default_factory=lambda: Warmup(seconds=0.5))
    iterations: int | None = None
    duration_s: float | None = DEFAULT_DURATION_S
    min_iterations: int = MIN_SAMPLES
    threads: int | None = None
    streams: int = 1
    concurrency: tuple[int, ...] = (1,)  # callers in flight at once, per batch size (CPU backends)
    cuda_graph: bool = False
    no_data_transfers: bool = False
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES
    input_size: tuple[int, int] | None = None
    cv_threshold: float = DEFAULT_CV_THRESHOLD
    max_default_batch: int | None = None
    memory_budget_bytes: int = 1 << 30
    max_iteration_seconds: float = 5.0
    max_point_seconds: float = 60.0
    seed: int = 0
    keep_samples: bool = True  # store every per-iteration latency in the result

    def __post_init__(self) -> None:
        if not self.backends:
            raise InvalidInputError("nothing to benchmark: give at least one backend")
        for name in ("iterations", "streams", "threads", "min_iterations"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InvalidInputError(f"`{name}` must be a positive integer, got {value!r}", param=name)
        for name in ("duration_s", "cv_threshold", "max_iteration_seconds", "max_point_seconds"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise InvalidInputError(f"`{name}` must be a positive number, got {value!r}", param=name)
        if self.batch_sizes is not None:
            bad = [b for b in self.batch_sizes if not isinstance(b, int) or b < 1]
            if bad or not self.batch_sizes:
                raise InvalidInputError(f"`batch_sizes` must be positive integers, got {self.batch_sizes}",
                                        param="batch_sizes")
        parse_percentiles(self.percentiles)
        bad_concurrency = [c for c in self.concurrency if isinstance(c, bool) or not isinstance(c, int) or c < 1]
        if bad_concurrency or not self.concurrency:
            raise InvalidInputError(f"`concurrency` must be positive integers, got {list(self.concurrency)}",
                                    param="concurrency")

    def to_dict(self) -> JsonObject:
        data = asdict(self)
        data["backends"] = [b.to_dict() for b in self.backends]
        data["warmup"] = self.warmup.describe()
        data["percentiles"] = list(self.percentiles)
        data["concurrency"] = list(self.concurrency)
        return data


@overload
def parse_batch_sizes(text: None) -> None: ...


@overload
def parse_batch_sizes(text: str | Sequence[int]) -> list[int]: ...


def parse_batch_sizes(text: str | Sequence[int] | None) -> list[int] | None:
    """The one batch-size parser (bench, validate, pipeline):
    `"1,2,4"` or `"1-256"` (powers of two between) -> [1, 2, 4, ...]; None stays None."""
    if text is None:
        return None
    if not isinstance(text, str):
        return [int(v) for v in text]
    sizes: list[int] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            if "-" in part:
                low, high = (int(v) for v in part.split("-", 1))
                sizes.extend(powers_of_two(low, high))
            else:
                sizes.append(int(part))
        except ValueError:
            raise InvalidInputError(f"`batch_sizes` takes integers (1,8,32) or a range of powers of two (1-256), "
                                    f"got {part!r}", param="batch_sizes") from None
    if not sizes or any(s < 1 for s in sizes):
        raise InvalidInputError(f"`batch_sizes` must be positive integers, got {text!r}", param="batch_sizes")
    return sorted(set(sizes))


def powers_of_two(low: int, high: int) -> list[int]:
    """Powers of two within low..high, with low and high themselves when they are not."""
    if low < 1 or high < low:
        raise InvalidInputError(f"`batch_sizes`: bad range {low}..{high} (want low >= 1 and high >= low)",
                                param="batch_sizes")
    sizes = {low, high}
    value = 1
    while value <= high:
        if value >= low:
            sizes.add(value)
        value *= 2
    return sorted(sizes)


def default_batch_sizes(limits: tuple[int, int | None], *, gpu: bool, sample_bytes: int,
                        cap: int | None = None, memory_budget_bytes: int = 1 << 30) -> list[int]:
    """Powers of two within the artifact's limits; unbounded artifacts stop at `cap`
    (256 on a GPU, 64 on a CPU) or where one batch of inputs would exceed the memory budget."""
    low, high = limits
    top = cap if cap is not None else (256 if gpu else 64)
    if high is not None:
        top = min(top, high) if cap is not None else high
    if sample_bytes > 0:
        top = min(top, max(low, memory_budget_bytes // sample_bytes))
    top = max(top, low)
    return powers_of_two(low, top)


def cpu_threads_default() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def parse_concurrency(text: str | Sequence[int] | None) -> tuple[int, ...]:
    """`"1,2,4"` -> (1, 2, 4); None -> (1,)."""
    if text is None:
        return (1,)
    if not isinstance(text, str):
        return tuple(int(v) for v in text)
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise InvalidInputError(f"`concurrency` takes positive integers (1,2,4), got {text!r}",
                                param="concurrency") from None
    if not values or values[0] < 1:
        raise InvalidInputError(f"`concurrency` takes positive integers (1,2,4), got {text!r}", param="concurrency")
    return tuple(values)
