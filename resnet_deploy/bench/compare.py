"""`bench-compare A.json B.json`: the change per backend and batch size between two runs.

Rows are matched by backend label and batch size (a lone backend in each run is matched to
the other's lone backend even when the labels differ). Nothing is dropped silently: what
only one run has is listed as unmatched, and the warnings stored in either input (short
runs, unstable latency, backends that did not run) come along with the comparison, as do
differences in the machine or the settings that make the two hard to compare.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, Field

from resnet_deploy.bench.result import BackendRun, BenchResult, ResultLike, as_result
from resnet_deploy.bench.result import load_result as _load_result
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.render import Column, precision_for, render_table


class ComparisonRow(BaseModel):
    backend: str
    batch: int
    median_ms_a: float
    median_ms_b: float
    median_change: float | None
    p99_ms_a: float | None = None
    p99_ms_b: float | None = None
    throughput_a: float
    throughput_b: float
    throughput_change: float | None


class Comparison(BaseModel):
    """The matched rows, what could not be matched, and what the inputs warned about."""

    kind: str = "bench-compare"
    baseline: str | None = None
    candidate: str | None = None
    rows: list[ComparisonRow] = Field(default_factory=list)
    unmatched: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    def to_dict(self) -> JsonObject:
        return self.model_dump(mode="json")


def load_result(path: str | os.PathLike[str]) -> BenchResult:
    """A saved benchmark JSON, checked to be one (one ArtifactError line otherwise, exit 2)."""
    return _load_result(path)


def _change(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or a == 0:
        return None
    return (b - a) / a


def _pairs(a: BenchResult, b: BenchResult) -> tuple[list[tuple[str, BackendRun, BackendRun]], list[str]]:
    index_a = {bk.label: bk for bk in a.backends}
    index_b = {bk.label: bk for bk in b.backends}
    pairs = [(label, index_a[label], index_b[label]) for label in index_a if label in index_b]
    if not pairs and len(index_a) == 1 and len(index_b) == 1:
        (la, ba), (lb, bb) = next(iter(index_a.items())), next(iter(index_b.items()))
        return [(f"{la} -> {lb}", ba, bb)], []
    unmatched = [f"{label} (only in A: batch {_batches(bk)})" for label, bk in index_a.items() if label not in index_b]
    unmatched += [f"{label} (only in B: batch {_batches(bk)})" for label, bk in index_b.items() if label not in index_a]
    return pairs, unmatched


def _batches(backend: BackendRun) -> str:
    return ", ".join(str(r.batch) for r in backend.results) or "none (not run)"


def _differences(a: BenchResult, b: BenchResult) -> list[str]:
    """Settings and machine facts that differ between the runs."""
    from resnet_deploy.bench.report import machine_line, run_length

    notes = []
    if a.environment.cpu.isa is None or b.environment.cpu.isa is None:  # older results did not record it
        a, b = (r.model_copy(update={"environment": r.environment.model_copy(
            update={"cpu": r.environment.cpu.model_copy(update={"isa": None})})}) for r in (a, b))
    if machine_line(a) != machine_line(b):
        notes.append(f"the runs were on different machines or libraries: A {machine_line(a)} | B {machine_line(b)}")
    if run_length(a.config) != run_length(b.config):
        notes.append(f"the runs were measured differently: A {run_length(a.config)} | B {run_length(b.config)}")
    if a.config.threads != b.config.threads:
        notes.append(f"threads differ: A {a.config.threads or 'default'}, B {b.config.threads or 'default'}")
    return notes


def compare_results(a: ResultLike, b: ResultLike, *, names: tuple[str, str] | None = None) -> Comparison:
    """Rows for every (backend label, batch) present in both runs, the ones only one run has,
    and both runs' warnings (prefixed A: / B:). InvalidInputError (exit 2) when nothing matches."""
    ra, rb = as_result(a, what="baseline"), as_result(b, what="candidate")
    pairs, unmatched = _pairs(ra, rb)
    rows = []
    for label, ba, bb in pairs:
        # rows match by batch size and callers in flight (bench --concurrency)
        by_batch_b = {(r.batch, r.concurrency): r for r in bb.results}
        batches_a = {(r.batch, r.concurrency) for r in ba.results}
        for row_a in ba.results:
            row_b = by_batch_b.get((row_a.batch, row_a.concurrency))
            shown = label if row_a.concurrency == 1 else f"{label}, {row_a.concurrency} callers"
            if row_b is None:
                unmatched.append(f"{shown} batch {row_a.batch} (only in A)")
                continue
            lat_a, lat_b = row_a.latency_ms, row_b.latency_ms
            rows.append(ComparisonRow(
                backend=shown, batch=row_a.batch, median_ms_a=lat_a.median, median_ms_b=lat_b.median,
                median_change=_change(lat_a.median, lat_b.median), p99_ms_a=lat_a.get("p99"), p99_ms_b=lat_b.get("p99"),
                throughput_a=row_a.throughput_ips, throughput_b=row_b.throughput_ips,
                throughput_change=_change(row_a.throughput_ips, row_b.throughput_ips)))
        unmatched += [f"{label} batch {r.batch} (only in B)" for r in bb.results
                      if (r.batch, r.concurrency) not in batches_a]
    if not rows:
        detail = f": {'; '.join(unmatched)}" if unmatched else ""
        raise InvalidInputError(f"the two results have no backend and batch size in common{detail}")
    warnings = [f"A: {w}" for w in ra.warnings()] + [f"B: {w}" for w in rb.warnings()] + _differences(ra, rb)
    return Comparison(baseline=names[0] if names else None, candidate=names[1] if names else None, rows=rows,
                      unmatched=unmatched, warnings=warnings)


def render_comparison(comparison: Comparison) -> str:
    """The table (numbers right-aligned, one precision per column), then what was not
    compared and the inputs' warnings."""
    rows = comparison.rows

    def spec(*names: str) -> str:
        return precision_for([getattr(r, n) for r in rows for n in names])

    ms, ips = spec("median_ms_a", "median_ms_b"), spec("throughput_a", "throughput_b")
    columns = [Column("backend"), Column("batch", "d"), Column("median ms A", ms), Column("median ms B", ms),
               Column("median change", "+.1%"), Column("img/s A", ips), Column("img/s B", ips),
               Column("img/s change", "+.1%")]
    body = [[r.backend, r.batch, r.median_ms_a, r.median_ms_b, r.median_change, r.throughput_a, r.throughput_b,
             r.throughput_change] for r in rows]
    lines = [render_table(columns, body)]
    if comparison.baseline or comparison.candidate:
        lines.insert(0, f"A = {comparison.baseline}, B = {comparison.candidate}")
    notes = [f"not compared: {u}" for u in comparison.unmatched] + comparison.warnings
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)
