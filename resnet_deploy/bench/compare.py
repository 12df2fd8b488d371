"""`bench-compare A.json B.json`: the change per backend and batch size between two runs."""

from __future__ import annotations

import json
import os
from typing import Any

from resnet_deploy.artifacts import require_file
from resnet_deploy.errors import InvalidInputError


def load_result(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A saved benchmark JSON, checked to be one (one clear error otherwise)."""
    path = require_file(path, "benchmark result")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"'{path}' is not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("kind") != "bench" or "backends" not in data:
        raise InvalidInputError(f"'{path}' is not a resnet-deploy benchmark result (bench --json output)")
    return data


def _change(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or a == 0:
        return None
    return (b - a) / a


def compare_results(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows for every (backend label, batch) present in both runs; a lone backend in each
    run is matched to the other's lone backend even when the labels differ."""
    index_a = {bk["label"]: bk for bk in a["backends"]}
    index_b = {bk["label"]: bk for bk in b["backends"]}
    pairs = [(label, index_a[label], index_b[label]) for label in index_a if label in index_b]
    if not pairs and len(index_a) == 1 and len(index_b) == 1:
        (la, ba), (lb, bb) = next(iter(index_a.items())), next(iter(index_b.items()))
        pairs = [(f"{la} -> {lb}", ba, bb)]
    rows = []
    for label, ba, bb in pairs:
        by_batch_b = {r["batch"]: r for r in bb["results"]}
        for ra in ba["results"]:
            rb = by_batch_b.get(ra["batch"])
            if rb is None:
                continue
            rows.append({"backend": label, "batch": ra["batch"],
                         "median_ms_a": ra["latency_ms"]["median"], "median_ms_b": rb["latency_ms"]["median"],
                         "median_change": _change(ra["latency_ms"]["median"], rb["latency_ms"]["median"]),
                         "p99_ms_a": ra["latency_ms"].get("p99"), "p99_ms_b": rb["latency_ms"].get("p99"),
                         "throughput_a": ra["throughput_ips"], "throughput_b": rb["throughput_ips"],
                         "throughput_change": _change(ra["throughput_ips"], rb["throughput_ips"])})
    if not rows:
        raise InvalidInputError("the two results have no backend and batch size in common")
    return rows


def render_comparison(rows: list[dict[str, Any]]) -> str:
    from resnet_deploy.cli.output import format_table

    def pct(v: float | None) -> str:
        return "" if v is None else f"{v:+.1%}"

    def num(v: float | None) -> str:
        return "" if v is None else f"{v:.3f}" if v < 100 else f"{v:.1f}"

    return format_table(
        ["backend", "batch", "median ms A", "median ms B", "change", "img/s A", "img/s B", "change"],
        [[r["backend"], r["batch"], num(r["median_ms_a"]), num(r["median_ms_b"]), pct(r["median_change"]),
          num(r["throughput_a"]), num(r["throughput_b"]), pct(r["throughput_change"])] for r in rows],
        align_right=[False, True, True, True, True, True, True, True])
