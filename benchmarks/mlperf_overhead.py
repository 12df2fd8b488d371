"""What LoadGen costs: MLPerf's Offline and SingleStream against bench's closed loop, same
model, backend, threads and batch, in one run.

    python benchmarks/mlperf_overhead.py [--model resnet50] [--batch 8] [--duration 20]
                                         [--rounds 2] [--threads 2]

Per round (rounds interleave, so background load hits both alike):
  bench       `run_benchmark`: ort-cpu, batch 1 and batch `--batch`, `--duration` s each;
  Offline     `run_mlperf`: one worker running batches of `--batch` (the same runner and
              threads), LoadGen's Offline query sized for `--duration` s of work;
  SingleStream `run_mlperf`: one sample per query, inline, `--duration` s.
The figures that count are the ratios: Offline samples/s over bench's images/s at the same
batch, and SingleStream's p90 over bench's batch-1 p90; and, inside each SingleStream run,
LoadGen's own share of the wall time (1 - its QPS with / without LoadGen overhead), which
background load cannot skew because both come from the same run. The runs use `--duration` instead of
LoadGen's 600 s, `--quick`'s query counts and 256 random images: NOT compliant runs (the
overhead, not a result).
Writes benchmarks/results/<device>/mlperf_overhead.{json,md}.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.suite_common import export_model, results_dir, write_json
from resnet_deploy.render import Column, markdown_table

log = logging.getLogger("benchmarks.mlperf_overhead")


def bench_round(model: Path, batch: int, duration: float, threads: int) -> dict[str, float]:
    from resnet_deploy.bench import BackendSpec, BenchConfig, Warmup, run_benchmark

    config = BenchConfig(backends=[BackendSpec("ort-cpu", artifact=model)], batch_sizes=sorted({1, batch}),
                         warmup=Warmup(seconds=2.0), duration_s=duration, threads=threads, keep_samples=False)
    result = run_benchmark(config)
    rows = {row.batch: row for _, row in result.rows()}
    return {"batch1_p90_ms": float(rows[1].latency_ms.get("p90") or 0.0),
            "batch1_median_ms": rows[1].latency_ms.median,
            "batch_ips": rows[batch].throughput_ips, "batch_median_ms": rows[batch].latency_ms.median}


def mlperf_round(model: Path, batch: int, duration: float, threads: int, work: Path, index: int,
                 seeds: dict[str, float]) -> dict[str, Any]:
    from resnet_deploy.mlperf import MlperfConfig, RunSettings, Seeds, run_mlperf

    settings = RunSettings(scenarios=("Offline", "SingleStream"), quick=True, min_duration_ms=round(duration * 1000),
                           seeds=Seeds(offline_qps=seeds["offline_qps"], single_stream_latency_ms=seeds["latency_ms"],
                                       source="bench, same round"))
    config = MlperfConfig(model=str(model), output=work / f"mlperf_{index}", settings=settings, backend="ort-cpu",
                          random=256, threads=threads, batch_size=batch, workers=1)
    result = run_mlperf(config)
    runs = {run.scenario: run for run in result.runs}
    return {"offline_sps": runs["Offline"].value, "offline_result": runs["Offline"].result,
            "offline_reasons": runs["Offline"].reasons,
            "single_p90_ms": runs["SingleStream"].latency_ms.get("p90"),
            "single_median_ms": runs["SingleStream"].latency_ms.get("p50"),
            "single_result": runs["SingleStream"].result, "single_reasons": runs["SingleStream"].reasons,
            "single_loadgen_overhead": runs["SingleStream"].loadgen_overhead,
            "single_queries": runs["SingleStream"].queries}


def explain(summary: dict[str, Any], batch: int, loads: list[float]) -> str:
    """What the ratios say, and how far the rounds let them be trusted."""
    offline, single = summary["offline_ratio"], summary["single_ratio"]
    low_o, high_o = summary["offline_ratio_range"]
    low_s, high_s = summary["single_ratio_range"]
    text = (f"Median over rounds: Offline reaches {offline:.1%} of bench's images/s at batch {batch} (rounds "
            f"{low_o:.3f}-{high_o:.3f}); SingleStream's p90 is {single:.3f}x bench's batch-1 p90 (rounds "
            f"{low_s:.3f}-{high_s:.3f}). Within each SingleStream run, LoadGen's own accounting (QPS with and "
            f"without its overhead, measured in the same run, so background load cancels) puts its share of the "
            f"wall time at {summary['single_loadgen_overhead']:.3%}. ")
    spread = max(high_o - low_o, high_s - low_s)
    if 0.95 <= offline <= 1.05 and 0.95 <= single <= 1.05 and spread <= 0.10:
        return text + "Both within 5% and the rounds agree: LoadGen and the SUT cost next to nothing at ResNet-50's times."
    reasons = []
    if spread > 0.10:
        reasons.append(f"the rounds disagree by up to {spread:.0%}, more than the gap being measured: the background "
                       f"load (load average {min(loads):.1f}-{max(loads):.1f} on 2 cores) changed between the paired "
                       "measurements, so these ratios bound the overhead only as tightly as that spread")
    if offline > 1.05 or single < 0.95:
        reasons.append("LoadGen came out faster than bench in the median, which no overhead can explain; it is the "
                       "background load")
    if offline < 0.95 and spread <= 0.10:
        reasons.append("a consistent Offline gap: LoadGen's issuing and logging threads and the SUT's worker share "
                       "the 2 cores with onnxruntime's two intra-op threads, and the query's tail (the last, "
                       "partly idle batches) is inside LoadGen's measured time but not inside bench's")
    if single > 1.05 and spread <= 0.10:
        reasons.append("a consistent SingleStream gap: LoadGen's per-query issue and completion on the 2 busy cores")
    return text + "Over 5%: " + "; ".join(reasons) + ". Rerun on a quiet machine for the overhead itself."


def markdown(data: dict[str, Any]) -> str:
    env = data["environment"]
    cpu = env.get("cpu", {})
    libs = env.get("library_versions", {})
    lines = ["# MLPerf LoadGen overhead: Offline and SingleStream vs bench's closed loop", "",
             f"Machine: {cpu.get('model')}, {cpu.get('logical_cores')} logical cores, ISA {data['cpu_isa']}; "
             f"onnxruntime {libs.get('onnxruntime')}, mlcommons-loadgen {data['loadgen']}. {data['model']} "
             f"(untrained, 224x224) on ort-cpu with {data['threads']} threads; Offline batches of {data['batch']} "
             f"on one worker; {data['duration_s']:g} s per measurement, {data['rounds']} interleaved rounds. "
             f"NOT compliant runs: min_duration {data['duration_s']:g} s instead of 600 s, quick query counts, 256 "
             "random images. "
             f"Load average (1 min) during the run: {data['load_avg_1m']}. {data['note']}", "",
             f"Command: `{data['command']}`", ""]
    columns = [Column("round", "d"), Column("bench img/s", ".2f"), Column("Offline samples/s", ".2f"),
               Column("Offline / bench", ".3f"), Column("bench b1 p90 ms", ".2f"), Column("SingleStream p90 ms", ".2f"),
               Column("SingleStream / bench", ".3f"), Column("LoadGen's own share %", ".3f"),
               Column("LoadGen verdicts", align="left")]
    body = [[r["round"], r["batch_ips"], r["offline_sps"], r["offline_ratio"], r["batch1_p90_ms"], r["single_p90_ms"],
             r["single_ratio"], 100 * (r["single_loadgen_overhead"] or 0.0),
             f"Offline {r['offline_result']}, SingleStream {r['single_result']}"] for r in data["rounds_detail"]]
    summary = data["summary"]
    body.append(["median", summary["batch_ips"], summary["offline_sps"], summary["offline_ratio"],
                 summary["batch1_p90_ms"], summary["single_p90_ms"], summary["single_ratio"],
                 100 * summary["single_loadgen_overhead"], ""])
    lines.append(markdown_table(columns, body))
    lines += ["", "The last row holds the medians over the rounds.", "", data["explanation"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--note", default="", help="a remark recorded with the results (e.g. that the machine was shared)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from resnet_deploy.cpu_isa import detect_isa

    out_dir, env = results_dir()
    loads = [os.getloadavg()[0]]
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mlperf_overhead.") as tmp:
        work = Path(tmp)
        model = export_model(args.model, work)
        for index in range(args.rounds):
            log.info("round %d: bench", index + 1)
            bench = bench_round(model, args.batch, args.duration, args.threads)
            seeds = {"offline_qps": bench["batch_ips"] * 1.5, "latency_ms": bench["batch1_median_ms"] * 0.5}
            log.info("round %d: mlperf Offline and SingleStream", index + 1)
            loadgen = mlperf_round(model, args.batch, args.duration, args.threads, work, index, seeds)
            loads.append(os.getloadavg()[0])
            row = {"round": index + 1, **bench, **loadgen}
            row["offline_ratio"] = loadgen["offline_sps"] / bench["batch_ips"]
            row["single_ratio"] = (loadgen["single_p90_ms"] or 0.0) / bench["batch1_p90_ms"]
            rounds.append(row)
            log.info("round %d: Offline %.2f vs bench %.2f img/s (%.3f); SingleStream p90 %.2f vs %.2f ms (%.3f)",
                     index + 1, loadgen["offline_sps"], bench["batch_ips"], row["offline_ratio"],
                     loadgen["single_p90_ms"], bench["batch1_p90_ms"], row["single_ratio"])
    offline = [r["offline_ratio"] for r in rounds]
    single = [r["single_ratio"] for r in rounds]
    summary = {key: float(np.median([r[key] or 0.0 for r in rounds]))
               for key in ("batch_ips", "offline_sps", "batch1_p90_ms", "single_p90_ms", "single_loadgen_overhead")}
    summary["offline_ratio"], summary["single_ratio"] = float(np.median(offline)), float(np.median(single))
    summary["offline_ratio_range"] = [min(offline), max(offline)]
    summary["single_ratio_range"] = [min(single), max(single)]
    data_explanation = explain(summary, args.batch, loads)
    command = (f"python benchmarks/mlperf_overhead.py --model {args.model} --batch {args.batch} --duration "
               f"{args.duration:g} --rounds {args.rounds} --threads {args.threads}")
    data = {"kind": "mlperf-overhead", "benchmark": "mlperf_overhead", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "environment": env, "cpu_isa": detect_isa().name, "loadgen": metadata.version("mlcommons-loadgen"),
            "model": args.model, "batch": args.batch, "threads": args.threads, "duration_s": args.duration,
            "rounds": args.rounds, "compliant": False, "note": args.note,
            "load_avg_1m": f"{min(loads):.2f}-{max(loads):.2f}", "command": command, "rounds_detail": rounds,
            "summary": summary, "explanation": data_explanation}
    write_json(out_dir / "mlperf_overhead.json", data)
    (out_dir / "mlperf_overhead.md").write_text(markdown(data), encoding="utf-8")
    log.info("wrote %s/mlperf_overhead.{json,md}", out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
