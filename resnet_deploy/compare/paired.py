"""How far a measured top-1 drop can be trusted: a 95% interval from the paired outcomes.

Two models judged on the same images are paired: what carries information is the images
one gets right and the other wrong (`lost`: the reference right, the candidate wrong;
`gained`: the other way round). The drop is (lost - gained) / n. Its interval is Tango's
asymptotic score interval for a difference of paired proportions (Tango 1998; recommended by
Fagerland, Lydersen & Laake 2013), found by bisection on the score statistic. Unlike the
Wald interval it does not collapse to zero width when no image changes (the usual case for
FP16): n images that all agree still leave an upper bound of about 3.84 / n (1.06 points on
360 images, 0.04 on 10,000). docs/validate.md explains how the gate uses it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from resnet_deploy.errors import InvalidInputError

Z95 = 1.959963984540054  # two-sided 95% normal quantile
MAX_IMAGES = 10**8  # the search for "images needed" stops here


@dataclass(frozen=True)
class PairedDrop:
    """A top-1 drop in points with its 95% interval and the verdict against `limit` (points)."""

    images: int
    lost: int  # right by the reference, wrong by the candidate
    gained: int  # wrong by the reference, right by the candidate
    drop: float  # points
    low: float  # points, 95% lower bound
    high: float  # points, 95% upper bound
    limit: float | None
    verdict: str  # "pass": high <= limit; "inconclusive": drop <= limit < high; "fail": drop > limit; "-" without a limit
    images_needed: int | None  # about how many images (same rates) the interval would need to clear the limit

    @property
    def resolved(self) -> bool:
        return self.limit is None or self.high <= self.limit or self.low > self.limit

    def resolution_note(self) -> str | None:
        """One line when the data cannot decide against the limit, else None."""
        if self.resolved or self.limit is None:
            return None
        needed = f"about {self.images_needed:,} are needed" if self.images_needed else "far more are needed"
        return (f"{self.images:,} images cannot resolve a {self.limit:g}-point limit (drop {self.drop:+.2f}, 95% CI "
                f"{self.low:+.2f} to {self.high:+.2f}); {needed}")


def _score(lost: float, gained: float, n: float, delta: float) -> float:
    """Tango's score statistic for H0: drop = delta (a proportion); decreasing in delta."""
    w = -lost - gained + (2 * n - lost + gained) * delta
    p21 = (math.sqrt(max(w * w + 8 * n * gained * delta * (1 - delta), 0.0)) - w) / (4 * n)
    variance = n * (2 * p21 + delta * (1 - delta))
    numerator = lost - gained - n * delta
    if variance <= 0:
        return math.copysign(math.inf, numerator) if numerator else 0.0
    return numerator / math.sqrt(variance)


def _bisect(lost: float, gained: float, n: float, lo: float, hi: float, target: float) -> float:
    """The delta in [lo, hi] where the score equals `target` (the score falls as delta rises)."""
    for _ in range(80):
        mid = (lo + hi) / 2
        if _score(lost, gained, n, mid) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def tango_interval(lost: float, gained: float, n: float, z: float = Z95) -> tuple[float, float]:
    """The interval (proportions) for (lost - gained) / n."""
    if n <= 0 or lost < 0 or gained < 0 or lost + gained > n:
        raise InvalidInputError(f"paired counts lost={lost}, gained={gained} do not fit {n} images")
    estimate = (lost - gained) / n
    edge = 1 - 1e-12
    low = -edge if _score(lost, gained, n, -edge) < z else _bisect(lost, gained, n, -edge, estimate, z)
    high = edge if _score(lost, gained, n, edge) > -z else _bisect(lost, gained, n, estimate, edge, -z)
    return low, high


def _clears(lost: int, gained: int, n: int, scale: float, limit: float) -> bool:
    low, high = tango_interval(lost * scale, gained * scale, n * scale)
    return high * 100 <= limit or low * 100 > limit


def images_needed(lost: int, gained: int, n: int, limit: float) -> int | None:
    """About how many images, with the same rates of lost and gained images, would give an
    interval on one side of `limit`; None when even MAX_IMAGES would not (a drop at the limit)."""
    if _clears(lost, gained, n, 1.0, limit):
        return n
    if not _clears(lost, gained, n, MAX_IMAGES / n, limit):
        return None
    low, high = n, MAX_IMAGES
    while high - low > max(1, low // 100):
        mid = (low + high) // 2
        if _clears(lost, gained, n, mid / n, limit):
            high = mid
        else:
            low = mid
    return int(float(f"{high:.2g}")) if high >= 100 else high  # "about": two significant figures


def paired_drop(reference_right: np.ndarray, candidate_right: np.ndarray, limit: float | None) -> PairedDrop:
    """The drop of the candidate against the reference, from per-image correctness (booleans)."""
    ref, cand = np.asarray(reference_right, bool), np.asarray(candidate_right, bool)
    if ref.shape != cand.shape or ref.ndim != 1 or ref.size == 0:
        raise InvalidInputError(f"paired outcomes need two equal non-empty vectors, got {ref.shape} and {cand.shape}")
    n = int(ref.size)
    lost, gained = int(np.sum(ref & ~cand)), int(np.sum(~ref & cand))
    drop = 100 * (lost - gained) / n
    low, high = (100 * v for v in tango_interval(lost, gained, n))
    if limit is None:
        return PairedDrop(n, lost, gained, drop, low, high, None, "-", None)
    verdict = "fail" if drop > limit else ("pass" if high <= limit else "inconclusive")
    needed = None if (high <= limit or low > limit) else images_needed(lost, gained, n, limit)
    return PairedDrop(n, lost, gained, drop, low, high, limit, verdict, needed)
