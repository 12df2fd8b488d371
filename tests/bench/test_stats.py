"""Percentiles and summaries on known synthetic timings: exact values, not approximations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from resnet_deploy.bench.stats import (
    mean_sd,
    parse_percentiles,
    percentile,
    summarize,
    trust_warnings,
)
from resnet_deploy.errors import InvalidInputError


def test_percentiles_of_1_to_100_are_exact() -> None:
    values = [float(v) for v in range(1, 101)]
    # linear interpolation: rank = (n - 1) * p / 100
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 50.5
    assert percentile(values, 90) == pytest.approx(90.1, abs=1e-12)
    assert percentile(values, 95) == pytest.approx(95.05, abs=1e-12)
    assert percentile(values, 99) == pytest.approx(99.01, abs=1e-12)
    assert percentile(values, 100) == 100.0


def test_percentiles_on_small_samples() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 25) == 1.75
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([7.0], 99) == 7.0
    assert percentile([2.0, 10.0], 90) == pytest.approx(9.2)


def test_percentiles_match_numpy_linear() -> None:
    rng = np.random.default_rng(3)
    for n in (2, 17, 1000):
        values = rng.lognormal(size=n)
        ordered = sorted(values)
        for p in (1, 50, 90, 95, 99, 99.9):
            assert percentile(ordered, p) == pytest.approx(float(np.percentile(values, p)), rel=1e-12)


def test_summary_fields() -> None:
    # 99 samples of 1 ms and one 101 ms outlier
    values = [1.0] * 99 + [101.0]
    s = summarize(values, (90, 99, 99.9))
    assert (s.samples, s.min, s.max, s.median) == (100, 1.0, 101.0, 1.0)
    assert s.mean == pytest.approx(2.0)
    assert s.std == pytest.approx(math.sqrt((99 * 1.0 + 99.0**2) / 100))  # population std
    assert s.percentiles == {"p90": 1.0, "p99": pytest.approx(2.0), "p99.9": pytest.approx(91.1)}
    assert s.cv == pytest.approx(s.std / 2.0)
    assert list(s.to_dict())[:4] == ["samples", "min", "mean", "median"]


def test_trust_warnings() -> None:
    steady = summarize([10.0, 10.1, 9.9] * 20)
    assert trust_warnings(steady, 2.0) == []
    assert any("too short" in w for w in trust_warnings(steady, 0.1))
    assert any("too short" in w for w in trust_warnings(summarize([10.0] * 5), 2.0))
    noisy = summarize([1.0, 5.0] * 30)
    assert any("unstable" in w for w in trust_warnings(noisy, 2.0))
    assert trust_warnings(noisy, 2.0, cv_threshold=1.0) == []


def test_parse_percentiles_and_errors() -> None:
    assert parse_percentiles("99, 90,95,90") == (90.0, 95.0, 99.0)
    assert parse_percentiles(None) == (90.0, 95.0, 99.0)
    for bad in ("abc", "101", ""):
        with pytest.raises(InvalidInputError):
            parse_percentiles(bad)
    with pytest.raises(InvalidInputError):
        percentile([], 50)


def test_mean_sd_is_the_sample_sd() -> None:
    mean, sd = mean_sd([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
    assert mean == 5.0
    assert sd == pytest.approx(math.sqrt(32 / 7))
