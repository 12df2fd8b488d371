"""The calibration cache: per-tensor ranges in JSON, so a rebuild does not recalibrate.

A cache is keyed by the model's sha256, the data's sha256, the method and the sample count;
its ranges carry their own sha256, so a hand edit that keeps the JSON valid is still caught.

What happens to a file at the cache path (the rule: a cache may cost a recalibration, it may
never give wrong ranges, and the tool never overwrites a file it cannot tell is its cache):
- valid, same key: its ranges are used;
- valid, another key: recalibrated and rewritten (another model, data, method or count);
- recognisably our cache (its `kind`, or its sidecar's) but invalid — a one-element range,
  NaN, low above high, a checksum that does not match, truncated JSON: a warning naming the
  problem, then recalibrated and rewritten. It is derived data: refusing would only make
  the user delete it by hand;
- anything else (not JSON, another kind of file): refused with one line, nothing overwritten.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from resnet_deploy.errors import ArtifactError
from resnet_deploy.jsonfile import parse_json
from resnet_deploy.sidecar import new_sidecar, sidecar_path, write_artifact

log = logging.getLogger(__name__)

KIND: Literal["calibration-cache"] = "calibration-cache"
VERSION = 5

Ranges = dict[str, tuple[float, float]]


def ranges_sha256(ranges: Ranges) -> str:
    """A checksum of the ranges as written (sorted names, repr of each float)."""
    text = json.dumps([[name, repr(float(lo)), repr(float(hi))] for name, (lo, hi) in sorted(ranges.items())])
    return hashlib.sha256(text.encode()).hexdigest()


class CalibrationCache(BaseModel):
    """The cache file. Unknown fields are kept (a newer writer's additions)."""

    model_config = ConfigDict(extra="allow")

    kind: Literal["calibration-cache"]
    version: int
    key: str
    model_sha256: str
    data: str
    data_sha256: str
    samples: int
    method: str
    percentile: float | None = None
    ranges: dict[str, tuple[float, float]]
    ranges_sha256: str

    @field_validator("ranges")
    @classmethod
    def _finite_and_ordered(cls, ranges: Ranges) -> Ranges:
        for name, (lo, hi) in ranges.items():
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ValueError(f"range of '{name}' is not finite: [{lo}, {hi}]")
            if lo > hi:
                raise ValueError(f"range of '{name}' has low {lo} above high {hi}")
        return ranges

    @model_validator(mode="after")
    def _checksum(self) -> CalibrationCache:
        if self.ranges_sha256 != ranges_sha256(self.ranges):
            raise ValueError("the ranges do not match their checksum (edited by hand?)")
        return self


class _Kind(BaseModel):
    """Just enough of a JSON file to tell whose it is."""

    model_config = ConfigDict(extra="allow")

    kind: str


def _is_our_cache(path: Path, raw: bytes) -> bool:
    """Whether the file, or its sidecar, says it is a calibration cache."""
    for what, data in (("cache", raw), ("sidecar", None)):
        try:
            if data is None:
                data = sidecar_path(path).read_bytes()
            if parse_json(data, _Kind, what=what).kind == KIND:
                return True
        except (OSError, ArtifactError):
            continue
    return False


def read_cache(path: Path, key: str) -> Ranges | None:
    """The cached ranges when `path` holds a valid cache for `key`; None when the caller must
    recalibrate (missing, another key, or our own cache found invalid: warned). A file that
    is not a calibration cache is refused (ArtifactError, param "cache_path")."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ArtifactError(f"cannot read calibration cache '{path}': {exc.strerror or exc}", param="cache_path") from exc
    try:
        cache = parse_json(raw, CalibrationCache, what=f"calibration cache '{path}'")
    except ArtifactError as exc:
        problem = str(exc).partition(" is not valid: ")[2] or str(exc)
        if not _is_our_cache(path, raw):
            raise ArtifactError(f"'{path}' is not a calibration cache ({problem}); it would be overwritten: "
                                f"remove it or choose another cache path", param="cache_path") from exc
        log.warning("calibration cache '%s' is invalid (%s): ignoring it and recalibrating", path, problem)
        return None
    if cache.key != key:
        log.info("calibration cache %s is for another model, data, method or sample count; recalibrating", path)
        return None
    return dict(cache.ranges)


def write_cache(path: Path, key: str, ranges: Ranges, *, model_sha256: str, source: str, data: str,
                data_sha256: str, samples: int, method: str, percentile: float | None) -> None:
    """Write the cache and its sidecar together (sidecar.write_artifact: crash-consistent)."""
    cache = CalibrationCache(kind=KIND, version=VERSION, key=key, model_sha256=model_sha256, data=data,
                             data_sha256=data_sha256, samples=samples, method=method, percentile=percentile,
                             ranges=dict(sorted(ranges.items())), ranges_sha256=ranges_sha256(ranges))
    text = cache.model_dump_json(indent=1) + "\n"
    write_artifact(path, lambda tmp: tmp.write_text(text, encoding="utf-8"),
                   new_sidecar(KIND, None, source=source, source_sha256=model_sha256, method=method, samples=samples,
                               data=data))
    log.info("calibration cache written to %s (sidecar %s)", path, sidecar_path(path).name)
