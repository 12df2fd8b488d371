"""The outcome of an `mlperf` invocation as typed records: what `--json` prints, what
mlperf.json holds, and what the summary table and `triton-repo --mlperf` read back."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.mlperf.settings import NOT_COMPLIANT


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")


class ScenarioRun(_Record):
    """One scenario in one mode: LoadGen's verdict and reasons, its metric, latencies, and
    for accuracy mode the toolkit's top-1 from LoadGen's accuracy log."""

    scenario: str
    mode: str
    result: str  # VALID, INVALID, or failed (the run did not finish)
    reasons: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    metric: str | None = None
    unit: str | None = None
    value: float | None = None
    latency_ms: dict[str, float] = Field(default_factory=dict)
    samples_per_second: float | None = None
    loadgen_overhead: float | None = None  # SingleStream: the share of wall time LoadGen itself took
    queries: int | None = None
    top1: float | None = None
    accuracy_samples: int | None = None
    settings: JsonObject = Field(default_factory=dict)
    log_dir: str
    seconds: float | None = None
    error: str | None = None


class PeakSearch(_Record):
    """`--find-peak`: every Server QPS tried and the largest VALID one."""

    latency_bound_ms: float
    peak_qps: float | None
    batch_size: int
    batch_timeout_ms: float
    tried: list[JsonObject] = Field(default_factory=list)


class MlperfResult(_Record):
    kind: Literal["mlperf"] = "mlperf"
    toolkit_version: str | None = None
    created: str | None = None
    model: str
    backend: str | None = None
    server: str | None = None
    samples: str
    sample_count: int
    compliant: bool
    note: str | None = None
    loadgen_version: str | None = None
    user_conf: str | None = None
    seeds: JsonObject = Field(default_factory=dict)
    sut: JsonObject = Field(default_factory=dict)
    environment: JsonObject = Field(default_factory=dict)
    runs: list[ScenarioRun] = Field(default_factory=list)
    peak: PeakSearch | None = None

    def to_dict(self) -> JsonObject:
        return self.model_dump(mode="json")

    def failed(self) -> list[ScenarioRun]:
        return [r for r in self.runs if r.result == "failed"]


def render_summary(result: MlperfResult) -> str:
    """The table people read: one row per scenario and mode."""
    from resnet_deploy.render import Column, render_table

    what = f"{result.model} on {result.server or result.backend}; {result.samples}"
    compliance = "compliant run (LoadGen's ResNet-50 rules)" if result.compliant else (result.note or NOT_COMPLIANT).upper()
    lines = [f"MLPerf LoadGen {result.loadgen_version or ''}: {what}", compliance]
    columns = [Column("scenario"), Column("mode"), Column("result"), Column("metric"), Column("value", ",.2f"),
               Column("p50 ms", ".3f"), Column("p90 ms", ".3f"), Column("p99 ms", ".3f"), Column("top-1 %", ".2f"),
               Column("reasons", align="left")]
    rows = []
    for run in result.runs:
        reasons = "; ".join(run.reasons + ([run.error] if run.error else []))
        rows.append([run.scenario, run.mode, run.result if result.compliant or run.result == "failed"
                     else f"{run.result} ({NOT_COMPLIANT})", run.metric if run.mode == "performance" else "top-1",
                     run.value if run.mode == "performance" else run.top1, run.latency_ms.get("p50"),
                     run.latency_ms.get("p90"), run.latency_ms.get("p99"), run.top1, reasons or None])
    lines.append(render_table(columns, rows))
    if result.peak is not None:
        peak = result.peak
        found = f"{peak.peak_qps:,.1f} QPS" if peak.peak_qps is not None else "no VALID QPS"
        lines.append(f"peak Server load within p99 <= {peak.latency_bound_ms:g} ms: {found} (batch <= {peak.batch_size}, "
                     f"batcher timeout {peak.batch_timeout_ms:g} ms; {len(peak.tried)} runs)")
    return "\n".join(lines)
