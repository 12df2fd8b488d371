"""LoadGen's own logs read back: mlperf_log_detail.txt (`:::MLLOG {json}` lines) gives the
validity, LoadGen's reasons for an INVALID result, the errors it logged, the metric and the
latency percentiles; mlperf_log_accuracy.json gives the responses of an accuracy run."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from resnet_deploy.errors import ArtifactError, InvalidInputError
from resnet_deploy.jsontypes import JsonObject

DETAIL = "mlperf_log_detail.txt"
SUMMARY = "mlperf_log_summary.txt"
ACCURACY = "mlperf_log_accuracy.json"
_PREFIX = ":::MLLOG "
# The scenario's metric: (detail key, name, unit, scale from LoadGen's unit)
METRICS = {
    "SingleStream": ("result_90.00_percentile_latency_ns", "p90 latency", "ms", 1e-6),
    "MultiStream": ("result_99.00_percentile_latency_ns", "p99 latency per query", "ms", 1e-6),
    "Server": ("result_scheduled_samples_per_sec", "scheduled samples/s", "samples/s", 1.0),
    "Offline": ("result_samples_per_second", "samples/s", "samples/s", 1.0),
}
_PERCENTILES = ("50.00", "90.00", "95.00", "97.00", "99.00", "99.90")


@dataclass
class LoadGenLog:
    """What one run's detail log says."""

    validity: str  # VALID / INVALID
    reasons: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    metric: str = ""
    unit: str = ""
    value: float | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    queries: int | None = None
    samples_per_second: float | None = None
    loadgen_overhead: float | None = None  # SingleStream: 1 - QPS with / without LoadGen's own time
    settings: JsonObject = field(default_factory=dict)


def read_entries(path: Path) -> dict[str, list[JsonObject]]:
    entries: dict[str, list[JsonObject]] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith(_PREFIX):
            continue
        try:
            entry = json.loads(line[len(_PREFIX):])
        except json.JSONDecodeError:
            continue
        entries.setdefault(str(entry.get("key")), []).append(entry)
    return entries


def parse_detail(folder: Path, scenario: str, mode: str = "performance") -> LoadGenLog:
    """The run's outcome from `folder`/mlperf_log_detail.txt; ArtifactError when LoadGen wrote
    no result (it did not finish). Accuracy runs have no validity: theirs is "done" once
    LoadGen logged the end of the test."""
    path = folder / DETAIL
    if not path.is_file():
        raise ArtifactError(f"LoadGen wrote no {DETAIL} in '{folder}'")
    entries = read_entries(path)

    def value(key: str) -> Any:
        found = entries.get(key)
        return found[-1].get("value") if found else None

    validity = value("result_validity")
    if validity is None and mode == "accuracy" and "power_end" in entries:
        validity = "done"
    if validity is None:
        raise ArtifactError(f"'{path}' holds no result (LoadGen did not finish the run)")
    result = LoadGenLog(validity=str(validity))
    reason = value("result_invalid_reason")
    if reason:
        result.reasons += [part.rstrip(".") for part in re.split(r"(?<=\.)\s+", str(reason).strip()) if part]
    for key, checked in (("result_min_duration_met", "the run was shorter than min_duration"),
                         ("result_min_queries_met", "fewer queries than min_query_count"),
                         ("result_perf_constraints_met", "the latency bound was not met"),
                         ("early_stopping_met", "early stopping criterion not met")):
        if value(key) is False:
            result.reasons.append(checked)
    for key, found in entries.items():
        for entry in found:
            if (entry.get("metadata") or {}).get("is_error"):
                result.errors.append(f"{key}: {entry.get('value')}")
    key, name, unit, scale = METRICS[scenario]
    raw = value(key)
    result.metric, result.unit = name, unit
    result.value = float(raw) * scale if raw is not None else None
    for percentile in _PERCENTILES:
        raw = value(f"result_{percentile}_percentile_latency_ns")
        if raw is not None:
            result.latency_ms[f"p{float(percentile):g}"] = float(raw) * 1e-6
    for name_key, label in (("result_mean_latency_ns", "mean"), ("result_min_latency_ns", "min"),
                            ("result_max_latency_ns", "max")):
        raw = value(name_key)
        if raw is not None:
            result.latency_ms[label] = float(raw) * 1e-6
    queries = value("result_query_count")
    result.queries = int(queries) if queries is not None else None
    sps = value("result_samples_per_second") or value("result_completed_samples_per_sec")
    if sps is None and value("result_qps_with_loadgen_overhead") is not None:
        per_query = MULTI_PER_QUERY.get(scenario, 1)
        sps = float(value("result_qps_with_loadgen_overhead")) * per_query
    result.samples_per_second = float(sps) if sps is not None else None
    with_overhead, without = value("result_qps_with_loadgen_overhead"), value("result_qps_without_loadgen_overhead")
    if with_overhead and without:
        result.loadgen_overhead = 1.0 - float(with_overhead) / float(without)
    for key in ("effective_min_duration_ms", "effective_min_query_count", "effective_target_qps",
                "effective_target_latency_ns", "effective_target_latency_percentile", "effective_samples_per_query",
                "effective_performance_sample_count"):
        if value(key) is not None:
            result.settings[key.removeprefix("effective_")] = value(key)
    return result


MULTI_PER_QUERY = {"MultiStream": 8}


@dataclass(frozen=True)
class AccuracyScore:
    top1: float  # percent
    samples: int


def score_accuracy(folder: Path, labels: np.ndarray | None, response_dtype: str = "int32") -> AccuracyScore:
    """Top-1 from `folder`/mlperf_log_accuracy.json: each response is the predicted class
    (`response_dtype` int32, 4 bytes: CPU and Triton SUTs) or a row of logits in that dtype
    (float32/float16: the TensorRT SUT answers from its output buffer), per QSL index."""
    path = folder / ACCURACY
    if labels is None:
        raise InvalidInputError("accuracy mode needs labelled samples; random images have none", param="dataset")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"cannot read LoadGen's accuracy log '{path}': {exc}") from exc
    dtype = np.dtype(response_dtype)
    predictions: dict[int, int] = {}
    for record in records:
        data = np.frombuffer(bytes.fromhex(record["data"]), dtype=dtype)
        predicted = int(data[0]) if dtype.kind in "iu" and len(data) == 1 else int(data.argmax())
        predictions[int(record["qsl_idx"])] = predicted
    if not predictions:
        raise ArtifactError(f"LoadGen's accuracy log '{path}' holds no responses")
    indices = np.array(sorted(predictions), dtype=np.int64)
    predicted_classes = np.array([predictions[i] for i in indices], dtype=np.int64)
    top1 = float(np.mean(predicted_classes == labels[indices]) * 100)
    return AccuracyScore(top1=top1, samples=len(indices))
