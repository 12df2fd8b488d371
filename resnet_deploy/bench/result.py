"""The benchmark result as typed objects: what `bench --save-json` writes, and what
bench-compare, the reports, the plots and benchmarks/update_readme.py read back.

A fresh run and a saved JSON are the same `BenchResult`, so every reader works on attributes
(`row.latency_ms.median`) instead of indexing a dict by strings, and a hand-edited, truncated
or foreign file is refused at the door with one line naming the first bad field
(resnet_deploy.jsonfile). The JSON layout is the one results were always recorded in:
unknown fields are kept (`extra="allow"`), percentiles stay flat keys (`"p99": 12.3`) next to
`min`/`median`, and results recorded before these models existed load unchanged.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_serializer,
    model_validator,
)

from resnet_deploy.errors import ArtifactError
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.render import words

_PERCENTILE_KEY = re.compile(r"^p\d+(\.\d+)?$")


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow", validate_assignment=False)


class LatencyStats(_Record):
    """Statistics of one series of per-iteration times (ms): what `stats.summarize` gives.
    Percentiles are flat keys in the JSON (`p90`, `p99.9`) and `percentiles` here."""

    samples: int = Field(ge=1)
    min: float
    mean: float
    median: float
    max: float
    std: float = Field(ge=0)
    cv: float | None = None
    percentiles: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _collect_percentiles(cls, data: Any) -> Any:
        """`p90`, `p99.9`, ... are validated as floats into `percentiles`; they also stay
        readable as attributes (`stats.p99`), as the JSON has them."""
        if isinstance(data, Mapping) and "percentiles" not in data:
            data = dict(data)
            data["percentiles"] = {k: v for k, v in data.items() if _PERCENTILE_KEY.match(str(k))}
        return data

    @model_serializer(mode="wrap")
    def _flat(self, handler: Any) -> JsonObject:
        data = handler(self)
        percentiles = data.pop("percentiles", {}) or {}
        head = {k: data.pop(k) for k in ("samples", "min", "mean", "median") if k in data}
        tail = {k: data.pop(k) for k in ("max", "std", "cv") if k in data}
        return {**head, **percentiles, **tail, **data}

    def get(self, key: str) -> float | None:
        """A statistic by its table name: min, mean, median, max, std, cv or a percentile key."""
        if key in self.percentiles:
            return self.percentiles[key]
        value = getattr(self, key, None) if key in ("min", "mean", "median", "max", "std", "cv") else None
        return float(value) if value is not None else None


_SPLIT = ("enqueue_ms", "h2d_ms", "compute_ms", "d2h_ms")


class BenchRow(_Record):
    """One batch size of one backend."""

    batch: int = Field(ge=1)
    timer: str = "unknown"
    streams: int = Field(default=1, ge=1)
    concurrency: int = Field(default=1, ge=1)  # callers in flight at once (bench --concurrency)
    iterations: int | None = Field(default=None, ge=0)
    measured_s: float | None = Field(default=None, ge=0)
    latency_ms: LatencyStats
    throughput_ips: float = Field(ge=0)
    enqueue_ms: LatencyStats | None = None  # GPU runs: trtexec's split times
    h2d_ms: LatencyStats | None = None
    compute_ms: LatencyStats | None = None
    d2h_ms: LatencyStats | None = None
    warnings: list[str] = Field(default_factory=list)
    samples_ms: list[float] | None = None

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: Any) -> JsonObject:
        data: JsonObject = handler(self)
        for key in (*_SPLIT, "samples_ms"):
            if data.get(key) is None:
                data.pop(key, None)
        if data.get("concurrency") == 1:  # one caller: the layout results were always recorded in
            data.pop("concurrency")
        return data


class SkippedBatch(_Record):
    batch: int
    reason: str


class SpecRecord(_Record):
    """What was asked for: the backend, the artifact or model it ran, the label, options."""

    backend: str
    artifact: str | None = None
    model: str | None = None
    label: str | None = None
    options: JsonObject = Field(default_factory=dict)


class InputRecord(_Record):
    name: str | None = None
    dtype: str | None = None
    shape_chw: list[int] | None = None
    layout: str | None = None  # NHWC when the fed array is (N, H, W, C); absent for NCHW and older results
    batch_limits: list[int | None] | None = None

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: Any) -> JsonObject:
        data: JsonObject = handler(self)
        if data.get("layout") is None:
            data.pop("layout", None)
        return data


class ArtifactRecord(_Record):
    """The benchmarked file: path, size, sha256 and its sidecar when it had one."""

    path: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    sidecar: JsonObject | None = None
    sidecar_mismatch: bool | None = None

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: Any) -> JsonObject:
        data: JsonObject = handler(self)
        for key in ("sidecar", "sidecar_mismatch"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class BackendRun(_Record):
    """One backend (one column of a comparison): its rows, skipped batches, notes, or the
    error that kept it from running."""

    label: str
    backend: str
    spec: SpecRecord | None = None
    runner: JsonObject = Field(default_factory=dict)
    artifact: ArtifactRecord | None = None
    input: InputRecord = Field(default_factory=InputRecord)
    results: list[BenchRow] = Field(default_factory=list)
    skipped: list[SkippedBatch] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    error: str | None = None


class ConfigRecord(_Record):
    """The settings the run used (BenchConfig.to_dict())."""

    backends: list[SpecRecord] = Field(default_factory=list)
    batch_sizes: list[int] | None = None
    warmup: str | None = None
    iterations: int | None = None
    duration_s: float | None = None
    min_iterations: int | None = None
    threads: int | None = None
    streams: int = 1
    percentiles: list[float] = Field(default_factory=lambda: [90.0, 95.0, 99.0])

    def percentile_keys(self) -> list[str]:
        return [f"p{p:g}" for p in self.percentiles]


class CpuRecord(_Record):
    model: str | None = None
    logical_cores: int | None = None
    affinity: int | None = None
    isa: list[str] | None = None


class GpuRecord(_Record):
    name: str | None = None
    driver: str | None = None


class EnvironmentRecord(_Record):
    """The machine and libraries (resnet_deploy.environment plus exact library versions)."""

    cpu: CpuRecord = Field(default_factory=CpuRecord)
    gpus: list[GpuRecord] | None = None
    library_versions: dict[str, str] = Field(default_factory=dict)


class BenchResult(_Record):
    """A whole `bench` run: settings, machine, and one BackendRun per backend."""

    kind: Literal["bench"]
    toolkit_version: str | None = None
    created: str | None = None
    config: ConfigRecord = Field(default_factory=ConfigRecord)
    environment: EnvironmentRecord = Field(default_factory=EnvironmentRecord)
    gpu_telemetry: JsonObject | None = None
    backends: list[BackendRun]

    def to_dict(self) -> JsonObject:
        """JSON-ready, in the recorded layout."""
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        from resnet_deploy.jsonfile import dumps_json

        return dumps_json(self.to_dict())

    def rows(self) -> Iterator[tuple[BackendRun, BenchRow]]:
        """Every (backend, row) pair, in order."""
        for backend in self.backends:
            for row in backend.results:
                yield backend, row

    def warnings(self) -> list[str]:
        """Everything a reader should know about this run, one line each: backends not run,
        skipped batches, notes and per-row warnings, labelled."""
        lines = []
        for backend in self.backends:
            lines += _backend_notes(backend)
            for row in backend.results:
                callers = f", {row.concurrency} callers" if row.concurrency > 1 else ""
                lines += [f"{backend.label} batch {row.batch}{callers}: WARNING {w}" for w in row.warnings]
        return lines

    def warning_summary(self) -> WarningSummary:
        """The same as `warnings()`, with the per-point warnings summarised: one line per
        backend naming each kind of warning and the points it concerns, and each kind once in
        full (where it was first seen). A busy machine gives every point a warning: ten lines
        saying the same thing hide the one that does not."""
        lines: list[str] = []
        explained: dict[str, str] = {}
        for backend in self.backends:
            lines += _backend_notes(backend)
            kinds: dict[str, list[str]] = {}
            for row in backend.results:
                point = f"{row.batch}" + (f" ({row.concurrency} callers)" if row.concurrency > 1 else "")
                for text in row.warnings:
                    kind = warning_kind(text)
                    kinds.setdefault(kind, []).append(point)
                    detail = text[len(kind):].lstrip(": ") or text
                    explained.setdefault(kind, f"{kind} (first seen on {backend.label}, batch {point}): {detail}")
            if kinds:
                lines.append(f"{backend.label}: " + "; ".join(
                    f"{kind} at batch{'es' if len(points) > 1 else ''} {words(points)}" for kind, points in kinds.items()))
        return WarningSummary(lines, list(explained.values()))


def _backend_notes(backend: BackendRun) -> list[str]:
    """A backend's own lines: not run, skipped batches, notes."""
    lines = [f"{backend.label}: not run: {backend.error}"] if backend.error else []
    lines += [f"{backend.label}: skipped batch {s.batch}: {s.reason}" for s in backend.skipped]
    return lines + [f"{backend.label}: {note}" for note in backend.notes]


def warning_kind(text: str) -> str:
    """What a per-point warning says, without its figures: the words before the first colon or
    parenthesis ("latency unstable", "run too short to trust")."""
    return re.split(r": | \(", text, maxsplit=1)[0].strip()


@dataclass(frozen=True)
class WarningSummary:
    """`BenchResult.warning_summary()`: `lines`, one per backend (and per skipped batch, note
    or error); `kinds`, each kind of per-point warning once, in full."""

    lines: list[str]
    kinds: list[str]


ResultLike = BenchResult | Mapping[str, Any]


def as_result(data: ResultLike, *, what: str = "benchmark result") -> BenchResult:
    """A BenchResult from itself or from a dict (a fresh `to_dict()`, a parsed JSON); an
    invalid dict is one ArtifactError line naming the first bad field."""
    if isinstance(data, BenchResult):
        return data
    try:
        return BenchResult.model_validate(data)
    except ValidationError as exc:
        raise ArtifactError(_problem(exc, what)) from exc


def _problem(exc: ValidationError, what: str) -> str:
    from resnet_deploy.jsonfile import first_problem

    first = exc.errors(include_url=False)[0]
    if first["loc"][:1] == ("kind",):
        return f"{what} is not a resnet-deploy benchmark result (what bench saves as JSON): kind must be 'bench'"
    return f"{what} is not valid: {first_problem(exc)}"


def load_result(path: str | os.PathLike[str]) -> BenchResult:
    """A saved benchmark JSON (`bench --save-json`), checked to be one. A missing, truncated,
    non-JSON, foreign or hand-broken file is one ArtifactError line (exit 2)."""
    from resnet_deploy.jsonfile import read_json_model
    from resnet_deploy.sidecar import require_file

    path = require_file(path, "benchmark result")
    try:
        return read_json_model(path, BenchResult, what="benchmark result")
    except ArtifactError as exc:
        cause = exc.__cause__
        if isinstance(cause, ValidationError) and cause.errors(include_url=False)[0]["type"] != "json_invalid":
            raise ArtifactError(_problem(cause, f"benchmark result '{path}'")) from cause
        raise


