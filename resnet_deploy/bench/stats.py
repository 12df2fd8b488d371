"""Latency statistics: percentiles, summaries and the trust warnings trtexec prints.

Percentiles use linear interpolation between closest ranks (Hyndman & Fan type 7, numpy's
default `method="linear"`): for n sorted samples x[0..n-1], the p-th percentile sits at rank
h = (n - 1) * p / 100 and is x[floor(h)] + (h - floor(h)) * (x[floor(h)+1] - x[floor(h)]).
It is written out here, not delegated, so the definition is in one readable place and the
tests can check it exactly against hand-computed values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.jsontypes import JsonObject

DEFAULT_PERCENTILES: tuple[float, ...] = (90.0, 95.0, 99.0)
# A run is "too noisy to trust" above this coefficient of variation (std / mean). trtexec warns
# at 1% of GPU compute time; a shared CPU is never that quiet, so the default is looser and
# configurable.
DEFAULT_CV_THRESHOLD = 0.10
# A run is "too short to trust" with fewer samples or less measured time than this.
MIN_SAMPLES = 30
MIN_MEASURED_SECONDS = 1.0


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) of already-sorted values, linear interpolation (type 7)."""
    if not sorted_values:
        raise InvalidInputError("percentile of an empty sample")
    if not 0.0 <= p <= 100.0:
        raise InvalidInputError(f"percentile must be within 0..100, got {p}")
    rank = (len(sorted_values) - 1) * p / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = rank - low
    return float(sorted_values[low]) + fraction * (float(sorted_values[high]) - float(sorted_values[low]))


def parse_percentiles(text: str | Sequence[float] | None) -> tuple[float, ...]:
    """`"90,95,99"` (or a sequence) -> (90.0, 95.0, 99.0); one clear error for a bad value
    (not a number, NaN, or outside 0..100)."""
    if text is None:
        return DEFAULT_PERCENTILES
    items = [s.strip() for s in text.split(",") if s.strip()] if isinstance(text, str) else list(text)
    values = []
    for item in items:
        try:
            value = float(item)
        except (TypeError, ValueError):
            raise InvalidInputError(f"`percentiles` takes numbers within 0..100 separated by commas, got {item!r}",
                                    param="percentiles") from None
        if not 0.0 <= value <= 100.0:  # also refuses NaN
            raise InvalidInputError(f"`percentiles` takes numbers within 0..100, got {value:g}", param="percentiles")
        values.append(value)
    if not values:
        raise InvalidInputError("`percentiles` needs at least one value, e.g. 90,95,99", param="percentiles")
    return tuple(sorted(set(values)))


def percentile_key(p: float) -> str:
    """90.0 -> "p90", 99.9 -> "p99.9": the field name in tables and JSON."""
    return f"p{p:g}"


@dataclass
class LatencySummary:
    """Statistics of one series of per-iteration times, in milliseconds."""

    samples: int
    min: float
    mean: float
    median: float
    max: float
    std: float
    percentiles: dict[str, float] = field(default_factory=dict)

    @property
    def cv(self) -> float:
        """Coefficient of variation (population std / mean); 0 for a zero mean."""
        return self.std / self.mean if self.mean > 0 else 0.0

    def to_dict(self) -> JsonObject:
        data: dict[str, Any] = {"samples": self.samples, "min": self.min, "mean": self.mean,
                                "median": self.median}
        data.update(self.percentiles)
        data.update({"max": self.max, "std": self.std, "cv": self.cv})
        return data


def summarize(values_ms: Sequence[float], percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> LatencySummary:
    """min/mean/median/percentiles/max and population standard deviation of `values_ms`."""
    if not values_ms:
        raise InvalidInputError("no timing samples to summarize")
    ordered = sorted(float(v) for v in values_ms)
    n = len(ordered)
    mean = math.fsum(ordered) / n
    variance = math.fsum((v - mean) ** 2 for v in ordered) / n
    return LatencySummary(samples=n, min=ordered[0], mean=mean, median=percentile(ordered, 50.0),
                          max=ordered[-1], std=math.sqrt(variance),
                          percentiles={percentile_key(p): percentile(ordered, p) for p in percentiles})


def trust_warnings(summary: LatencySummary, measured_seconds: float, *,
                   cv_threshold: float = DEFAULT_CV_THRESHOLD, min_samples: int = MIN_SAMPLES,
                   min_seconds: float = MIN_MEASURED_SECONDS) -> list[str]:
    """The reasons not to trust a run (empty when there are none), as trtexec warns."""
    warnings = []
    short = []
    if summary.samples < min_samples:
        short.append(f"{summary.samples} samples (want at least {min_samples}; raise the iterations)")
    if measured_seconds < min_seconds:
        short.append(f"{measured_seconds:.2f} s measured (want at least {min_seconds:g} s; raise the duration)")
    if short:
        warnings.append("run too short to trust: " + " and ".join(short))
    if summary.cv > cv_threshold:
        warnings.append(f"latency unstable: coefficient of variation {summary.cv:.1%} is over {cv_threshold:.0%} "
                        "(other load on the machine, clock changes or thermal throttling)")
    return warnings


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1), the seed article's `mean ± sd` view."""
    if not values:
        raise InvalidInputError("no values")
    n = len(values)
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, sd
