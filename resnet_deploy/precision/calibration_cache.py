"""The calibration cache: per-tensor ranges in JSON, so a rebuild does not recalibrate.

A cache is keyed by the model's sha256, the data's sha256, the method and the sample count;
its ranges carry their own sha256, so a hand edit that keeps the JSON valid is still caught.
The cache records its own provenance (source model, toolkit and library versions, when), so
it has no sidecar; a sidecar that older versions wrote beside it is still read to recognise
the cache, and removed when the cache is rewritten.

What happens to a file at the cache path (the rule: a cache may cost a recalibration, it may
never give wrong ranges, and the tool never overwrites a file it cannot tell is its cache):
- valid, same key: its ranges are used;
- valid, another key: recalibrated and rewritten (another model, data, method or count);
- recognisably our cache (its `kind`, even at the start of a truncated file, or an older
  version's sidecar) but invalid — a one-element range,
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
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from resnet_deploy.atomic import atomic_write_text
from resnet_deploy.errors import ArtifactError
from resnet_deploy.jsonfile import parse_json
from resnet_deploy.sidecar import new_sidecar, sidecar_path

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
    # Provenance (what a sidecar said before version 5 caches carried it themselves).
    source: str | None = None
    toolkit_version: str | None = None
    created: str | None = None
    library_versions: dict[str, str] = {}

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


# How every cache this project writes begins: it still says whose it is when truncated.
_CACHE_START = re.compile(rb'^\s*\{\s*"kind"\s*:\s*"calibration-cache"')


def _says_cache(data: bytes, what: str) -> bool:
    try:
        return parse_json(data, _Kind, what=what).kind == KIND
    except ArtifactError:
        return bool(_CACHE_START.match(data))


def _old_sidecar(path: Path) -> Path | None:
    """The sidecar an older version wrote beside its cache, if there is one."""
    sidecar = sidecar_path(path)
    try:
        return sidecar if _says_cache(sidecar.read_bytes(), "sidecar") else None
    except OSError:
        return None


def _is_our_cache(path: Path, raw: bytes) -> bool:
    """Whether the file, or an older version's sidecar beside it, says it is a calibration cache."""
    return _says_cache(raw, "cache") or _old_sidecar(path) is not None


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
    """Write the cache atomically, with its provenance inside it (no sidecar)."""
    provenance = new_sidecar(KIND, None)
    cache = CalibrationCache(kind=KIND, version=VERSION, key=key, model_sha256=model_sha256, data=data,
                             data_sha256=data_sha256, samples=samples, method=method, percentile=percentile,
                             ranges=dict(sorted(ranges.items())), ranges_sha256=ranges_sha256(ranges), source=source,
                             toolkit_version=provenance.toolkit_version, created=provenance.created,
                             library_versions=provenance.library_versions)
    atomic_write_text(path, cache.model_dump_json(indent=1) + "\n")
    stale = _old_sidecar(path)
    if stale is not None:  # an older version's sidecar no longer describes the cache
        stale.unlink()
    log.info("calibration cache written to %s", path)
