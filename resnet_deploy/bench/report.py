"""Render a benchmark result (the dict from BenchReport.to_dict() or a saved JSON) as a
table for people, CSV, Markdown, and save them with the JSON beside them."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from resnet_deploy.artifacts import atomic_write_text, check_output_dir


def percentile_keys(data: dict[str, Any]) -> list[str]:
    return [f"p{p:g}" for p in data.get("config", {}).get("percentiles", [90, 95, 99])]


def rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per (backend, batch): what every table and CSV is made of."""
    keys = percentile_keys(data)
    out = []
    for backend in data["backends"]:
        for r in backend["results"]:
            lat = r["latency_ms"]
            row: dict[str, Any] = {"backend": backend["label"], "batch": r["batch"], "samples": lat["samples"],
                                   "min_ms": lat["min"], "mean_ms": lat["mean"], "median_ms": lat["median"]}
            for key in keys:
                row[f"{key}_ms"] = lat.get(key)
            row.update({"max_ms": lat["max"], "std_ms": lat["std"], "cv": lat["cv"],
                        "throughput_ips": r["throughput_ips"]})
            for part in ("enqueue_ms", "h2d_ms", "compute_ms", "d2h_ms"):
                row[part.replace("_ms", "_mean_ms")] = r[part]["mean"] if part in r else None
            row["warnings"] = len(r.get("warnings", []))
            out.append(row)
    return out


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.1f}" if value >= 100 else f"{value:.3f}" if value < 10 else f"{value:.2f}"
    return value


def _table_columns(data: dict[str, Any], gpu_split: bool, flat: list[dict[str, Any]] | None = None) -> list[tuple[str, str]]:
    cols = [("backend", "backend"), ("batch", "batch"), ("samples", "n"), ("min_ms", "min ms"),
            ("mean_ms", "mean ms"), ("median_ms", "median ms")]
    cols += [(f"{k}_ms", f"{k} ms") for k in percentile_keys(data)]
    cols += [("max_ms", "max ms"), ("std_ms", "std ms"), ("throughput_ips", "img/s")]
    if gpu_split:
        split = [("h2d_mean_ms", "H2D ms"), ("compute_mean_ms", "compute ms"), ("d2h_mean_ms", "D2H ms"),
                 ("enqueue_mean_ms", "enqueue ms")]
        # no_data_transfers: no copies were timed, so no H2D/D2H columns
        cols += [(key, title) for key, title in split
                 if flat is None or key not in ("h2d_mean_ms", "d2h_mean_ms") or any(r[key] is not None for r in flat)]
    return cols


def _notes(data: dict[str, Any]) -> list[str]:
    notes = []
    for backend in data["backends"]:
        label = backend["label"]
        if backend.get("error"):
            notes.append(f"{label}: not run: {backend['error']}")
        for skip in backend.get("skipped", []):
            notes.append(f"{label}: skipped batch {skip['batch']}: {skip['reason']}")
        for note in backend.get("notes", []):
            notes.append(f"{label}: {note}")
        for r in backend["results"]:
            for warning in r.get("warnings", []):
                notes.append(f"{label} batch {r['batch']}: WARNING {warning}")
    return notes


def render_table(data: dict[str, Any]) -> str:
    """The readable table plus notes and warnings."""
    from resnet_deploy.cli.output import format_table

    flat = rows(data)
    gpu_split = any(r["compute_mean_ms"] is not None for r in flat)
    cols = _table_columns(data, gpu_split, flat)
    text = format_table([title for _, title in cols], [[_fmt(r[key]) for key, _ in cols] for r in flat])
    notes = _notes(data)
    return text + ("\n\n" + "\n".join(notes) if notes else "")


def render_csv(data: dict[str, Any]) -> str:
    flat = rows(data)
    buffer = io.StringIO()
    if flat:
        writer = csv.DictWriter(buffer, fieldnames=list(flat[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat)
    return buffer.getvalue()


def markdown_table(headers: list[str], body: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in body]
    return "\n".join(lines)


def machine_line(data: dict[str, Any]) -> str:
    env = data.get("environment", {})
    cpu = env.get("cpu", {})
    parts = [f"CPU {cpu.get('model', '?')} ({cpu.get('affinity') or cpu.get('logical_cores')} cores)"]
    for gpu in env.get("gpus", []) or []:
        parts.append(f"GPU {gpu.get('name')} (driver {gpu.get('driver')})")
    versions = env.get("library_versions", {})
    libs = ", ".join(f"{k} {v}" for k, v in versions.items() if k in ("torch", "onnxruntime", "onnxruntime-gpu", "openvino", "tensorrt"))
    return "; ".join(parts) + (f"; {libs}" if libs else "")


def render_markdown(data: dict[str, Any], title: str | None = "Benchmark") -> str:
    flat = rows(data)
    gpu_split = any(r["compute_mean_ms"] is not None for r in flat)
    cols = _table_columns(data, gpu_split, flat)
    out = [f"## {title}", ""] if title else []
    out += [f"Machine: {machine_line(data)}  ", f"Recorded {data.get('created', '?')}; warm-up "
            f"{data['config'].get('warmup')}, iterations {data['config'].get('iterations')}, duration "
            f"{data['config'].get('duration_s')} s, threads {data['config'].get('threads') or 'default'}.", ""]
    out.append(markdown_table([t for _, t in cols], [[_fmt(r[k]) for k, _ in cols] for r in flat]))
    notes = _notes(data)
    if notes:
        out += ["", *[f"- {n}" for n in notes]]
    return "\n".join(out) + "\n"


def save(data: dict[str, Any], *, json_path: str | os.PathLike[str] | None = None,
         csv_path: str | os.PathLike[str] | None = None, markdown_path: str | os.PathLike[str] | None = None,
         plot_dir: str | os.PathLike[str] | None = None, plot_prefix: str = "", plot_title: str | None = None) -> list[Path]:
    """Write each requested output atomically; returns the files written."""
    written: list[Path] = []
    if json_path:
        written.append(atomic_write_text(json_path, json.dumps(data, indent=2, default=str) + "\n"))
    if csv_path:
        written.append(atomic_write_text(csv_path, render_csv(data)))
    if markdown_path:
        written.append(atomic_write_text(markdown_path, render_markdown(data)))
    if plot_dir:
        from resnet_deploy.bench.plots import save_plots

        check_output_dir(Path(plot_dir) / "x")
        written.extend(save_plots(data, plot_dir, prefix=plot_prefix, title=plot_title))
    return written
