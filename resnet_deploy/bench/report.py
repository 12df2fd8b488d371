"""Render a benchmark result (a BenchResult, its `to_dict()`, or a saved JSON read back) as
a table for people, CSV, Markdown, and save them with the JSON beside them.

Every table goes through resnet_deploy.render: numbers stay numbers until there, each column
is named, and the latency columns share one precision chosen from the values they hold.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resnet_deploy.atomic import atomic_write_text, check_output_dir
from resnet_deploy.bench.result import (
    BenchResult,
    ConfigRecord,
    EnvironmentRecord,
    ResultLike,
    as_result,
)
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.render import Column, markdown_table, precision_for
from resnet_deploy.render import render_table as render_rows

_SPLIT = (("h2d_ms", "H2D ms"), ("compute_ms", "compute ms"), ("d2h_ms", "D2H ms"), ("enqueue_ms", "enqueue ms"))


def percentile_keys(data: ResultLike) -> list[str]:
    return as_result(data).config.percentile_keys()


def rows(data: ResultLike) -> list[JsonObject]:
    """One flat row of numbers per (backend, batch): what the CSV and the tables are made of."""
    result = as_result(data)
    keys = result.config.percentile_keys()
    out = []
    for backend, r in result.rows():
        lat = r.latency_ms
        row: JsonObject = {"backend": backend.label, "batch": r.batch, "samples": lat.samples,
                               "min_ms": lat.min, "mean_ms": lat.mean, "median_ms": lat.median}
        for key in keys:
            row[f"{key}_ms"] = lat.get(key)
        row.update({"max_ms": lat.max, "std_ms": lat.std, "cv": lat.cv, "throughput_ips": r.throughput_ips})
        for part, _ in (("enqueue_ms", ""), *_SPLIT[:3]):
            stats = getattr(r, part)
            row[part.replace("_ms", "_mean_ms")] = stats.mean if stats is not None else None
        row["warnings"] = len(r.warnings)
        row["concurrency"] = r.concurrency  # last: CSV readers of the older columns are unaffected
        out.append(row)
    return out


def _table(result: BenchResult) -> tuple[list[Column], list[list[Any]]]:
    """Named columns with one precision per column group, and the rows of numbers."""
    flat = rows(result)
    keys = result.config.percentile_keys()
    latency_keys = ["min_ms", "mean_ms", "median_ms", *[f"{k}_ms" for k in keys], "max_ms"]
    split = [(key.replace("_ms", "_mean_ms"), title) for key, title in _SPLIT]
    present_split = [(key, title) for key, title in split if any(r[key] is not None for r in flat)]

    def spec(*columns: str, grouping: bool = False) -> str:
        return precision_for([r[c] for r in flat for c in columns], grouping=grouping)

    ms = spec(*latency_keys)
    columns: list[tuple[str, Column]] = [
        ("backend", Column("backend")), ("batch", Column("batch", "d")),
        *([("concurrency", Column("callers", "d"))] if any(r["concurrency"] > 1 for r in flat) else []),
        ("samples", Column("n", ",d")),
        *[(key, Column(key.replace("_ms", " ms"), ms)) for key in latency_keys],
        ("std_ms", Column("std ms", spec("std_ms"))),
        ("throughput_ips", Column("img/s", spec("throughput_ips", grouping=True))),
    ]
    if present_split:  # GPU runs; without data transfers there are no H2D/D2H columns
        split_spec = spec(*(key for key, _ in present_split))
        columns += [(key, Column(title, split_spec)) for key, title in present_split]
    return [c for _, c in columns], [[r[key] for key, _ in columns] for r in flat]


def render_table(data: ResultLike) -> str:
    """The readable table, then the notes and warnings, one per line."""
    result = as_result(data)
    columns, body = _table(result)
    notes = result.warnings()
    text = render_rows(columns, body) if body else "no timing results"
    return text + ("\n\n" + "\n".join(notes) if notes else "")


def render_csv(data: ResultLike) -> str:
    flat = rows(data)
    buffer = io.StringIO()
    if flat:
        writer = csv.DictWriter(buffer, fieldnames=list(flat[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat)
    return buffer.getvalue()


def machine_line(data: ResultLike | Mapping[str, Any] | EnvironmentRecord) -> str:
    """CPU (model, cores, instruction set), GPUs and runtime versions, on one line. Takes a
    result, any record with an `environment`, or the environment itself."""
    if isinstance(data, EnvironmentRecord):
        env = data
    elif isinstance(data, BenchResult):
        env = data.environment
    else:
        env = EnvironmentRecord.model_validate(dict(data).get("environment") or {})
    cpu = env.cpu
    isa = f", {' '.join(cpu.isa)}" if cpu.isa else ""
    parts = [f"CPU {cpu.model or '?'} ({cpu.affinity or cpu.logical_cores} cores{isa})"]
    for gpu in env.gpus or []:
        parts.append(f"GPU {gpu.name} (driver {gpu.driver})")
    wanted = ("torch", "onnxruntime", "onnxruntime-gpu", "openvino", "tensorrt")
    libs = ", ".join(f"{k} {v}" for k, v in env.library_versions.items() if k in wanted)
    return "; ".join(parts) + (f"; {libs}" if libs else "")


def run_length(config: ConfigRecord) -> str:
    """How long each point ran, in words: "3 s and at least 30 iterations per point"."""
    if config.iterations is not None and config.duration_s is not None:
        length = f"{config.iterations} iterations and {config.duration_s:g} s (both met)"
    elif config.iterations is not None:
        length = f"{config.iterations} iterations"
    elif config.duration_s is not None:
        at_least = f" and at least {config.min_iterations} iterations" if config.min_iterations else ""
        length = f"{config.duration_s:g} s{at_least}"
    else:
        length = f"{config.min_iterations} iterations"
    return f"{length} per point after {config.warmup or 'no'} warm-up"


def render_markdown(data: ResultLike, title: str | None = "Benchmark") -> str:
    result = as_result(data)
    columns, body = _table(result)
    config = result.config
    out = [f"## {title}", ""] if title else []
    out += [f"Machine: {machine_line(result)}  ",
            f"Recorded {result.created or '?'}; {run_length(config)}; threads {config.threads or 'default'}; "
            "latency in ms per batch.", ""]
    out.append(markdown_table(columns, body))
    notes = result.warnings()
    if notes:
        out += ["", *[f"- {n}" for n in notes]]
    return "\n".join(out) + "\n"


def save(data: ResultLike, *, json_path: str | os.PathLike[str] | None = None,
         csv_path: str | os.PathLike[str] | None = None, markdown_path: str | os.PathLike[str] | None = None,
         plot_dir: str | os.PathLike[str] | None = None, plot_prefix: str = "", plot_title: str | None = None) -> list[Path]:
    """Write each requested output atomically; returns the files written."""
    result = as_result(data)
    written: list[Path] = []
    if json_path:
        written.append(atomic_write_text(json_path, result.to_json()))
    if csv_path:
        written.append(atomic_write_text(csv_path, render_csv(result)))
    if markdown_path:
        written.append(atomic_write_text(markdown_path, render_markdown(result)))
    if plot_dir:
        from resnet_deploy.bench.plots import save_plots

        check_output_dir(Path(plot_dir) / "x")
        written.extend(save_plots(result, plot_dir, prefix=plot_prefix, title=plot_title))
    return written
