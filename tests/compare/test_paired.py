"""The paired 95% interval on a top-1 drop, and the gate's resolution line."""

from __future__ import annotations

import math

import numpy as np
import pytest

from resnet_deploy.compare.paired import Z95, images_needed, paired_drop, tango_interval
from resnet_deploy.errors import InvalidInputError


def test_no_changed_image_still_leaves_an_interval_of_about_3_84_over_n() -> None:
    for n in (360, 10_000):
        low, high = tango_interval(0, 0, n)
        assert high == pytest.approx(Z95**2 / (n + Z95**2), rel=1e-6) and low == pytest.approx(-high)


def test_many_discordant_images_agree_with_the_wald_interval() -> None:
    lost, gained, n = 400, 300, 10_000
    low, high = tango_interval(lost, gained, n)
    d = (lost - gained) / n
    se = math.sqrt((lost + gained) / n - d * d) / math.sqrt(n)
    assert low == pytest.approx(d - Z95 * se, abs=2e-4) and high == pytest.approx(d + Z95 * se, abs=2e-4)
    assert low < d < high


def test_the_gate_verdicts_and_the_resolution_line() -> None:
    ref = np.ones(360, bool)
    same = paired_drop(ref, ref.copy(), 0.2)
    assert same.drop == 0 and same.verdict == "inconclusive" and not same.resolved
    note = same.resolution_note()
    assert note is not None and note.startswith("360 images cannot resolve a 0.2-point limit")
    assert "about 1,900 are needed" in note  # 3.84 / n < 0.2 points from n ~ 1,900
    big = paired_drop(np.ones(10_000, bool), np.ones(10_000, bool), 0.2)
    assert big.verdict == "pass" and big.resolution_note() is None
    cand = np.ones(1000, bool)
    cand[:60] = False  # 6 points lost
    failed = paired_drop(np.ones(1000, bool), cand, 1.0)
    assert failed.verdict == "fail" and failed.low > 1.0 and failed.lost == 60 and failed.gained == 0
    assert paired_drop(ref, ref, None).verdict == "-"


def test_images_needed_grows_as_the_drop_nears_the_limit() -> None:
    far, near = images_needed(10, 0, 1000, 5.0), images_needed(10, 0, 1000, 1.5)
    assert far == 1000  # already resolved
    assert near is not None and near > 1000
    assert images_needed(10, 0, 1000, 1.0) is None  # the drop is the limit: no count decides


def test_bad_counts_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        tango_interval(5, 6, 10)
    with pytest.raises(InvalidInputError):
        paired_drop(np.ones(3, bool), np.ones(4, bool), 1.0)
