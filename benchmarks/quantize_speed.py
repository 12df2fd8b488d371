"""CPU speed of the precision variants: FP32 vs INT8 (cpu and tensorrt layouts), onnxruntime and OpenVINO.

    python benchmarks/quantize_speed.py [--model resnet50] [--size 224] [--batch 8] [--threads 2]

Untrained weights (speed does not depend on them) and random calibration images. Every
variant is timed in the same run with the same loop: warm-up outside the measured part,
then `--rounds` rounds of `--iters` batches per variant, variants interleaved so background load
hits all alike; perf_counter_ns per batch; throughput = median round's images / time.
Writes benchmarks/results/<device>/quantize_speed.{json,md}. The ratio INT8/FP32 within one
run is the figure that counts: other processes on the machine shift both.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.suite_common import export_model, random_calibration, results_dir, write_json
from resnet_deploy.backends.base import Runner

log = logging.getLogger("benchmarks.quantize_speed")


def time_rounds(runners: dict[str, Runner], x: np.ndarray, warmup: int, iters: int, rounds: int) -> dict[str, dict[str, Any]]:
    """Time every runner in turn, `rounds` times, so a burst of load from other processes
    hits all variants alike; each variant's figure is its median round."""
    feeds = {name: {runner.inputs()[0].name: x} for name, runner in runners.items()}
    for name, runner in runners.items():
        for _ in range(warmup):
            runner.infer(feeds[name])
    per_round: dict[str, list[float]] = {name: [] for name in runners}
    latencies: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, runner in runners.items():
            times = []
            for _ in range(iters):
                start = time.perf_counter_ns()
                runner.infer(feeds[name])
                times.append((time.perf_counter_ns() - start) / 1e9)
            per_round[name].append(len(x) * iters / sum(times))
            latencies[name] += [t * 1e3 for t in times]
    return {name: {"throughput_img_s": statistics.median(per_round[name]), "throughput_rounds": per_round[name],
                   "latency_ms_median": statistics.median(latencies[name]), "latency_ms_min": min(latencies[name]),
                   "iters_per_round": iters, "rounds": rounds} for name in runners}


def _versions(env: dict[str, Any]) -> str:
    libs = env.get("library_versions", {})
    return ", ".join(f"{k} {libs[k]}" for k in ("onnxruntime", "openvino", "onnx", "torch") if k in libs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=8, help="batches per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--calib-samples", type=int, default=32)
    parser.add_argument("--work", type=Path, default=None, help="folder for the models (default: a temporary one)")
    parser.add_argument("--no-openvino", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from resnet_deploy.backends.onnxruntime_runner import OnnxRuntimeRunner
    from resnet_deploy.optional import is_installed
    from resnet_deploy.precision import quantize_int8

    out_dir, env = results_dir()
    with tempfile.TemporaryDirectory(prefix="qspeed.") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        fp32 = export_model(args.model, work, args.size)
        calib = random_calibration(work, args.size, args.calib_samples)
        variants: dict[str, Path] = {"fp32": fp32}
        for name, target, fmt in [("int8-cpu", "cpu", "qdq"), ("int8-cpu-qoperator", "cpu", "qoperator"),
                                  ("int8-tensorrt", "tensorrt", "qdq")]:
            variants[name] = quantize_int8(fp32, work / f"{fp32.stem}.{name}.onnx", calib=str(calib),
                                           samples=args.calib_samples, target=target, cpu_format=fmt,
                                           cache_path=work / "calib.json").output
        x = np.random.default_rng(0).standard_normal((args.batch, 3, args.size, args.size), dtype=np.float32)
        rows: list[dict[str, Any]] = []
        backends: list[tuple[str, Any]] = [("onnxruntime", lambda p: OnnxRuntimeRunner(p, provider="cpu", threads=args.threads))]
        if not args.no_openvino and is_installed("openvino"):
            from resnet_deploy.backends.openvino_runner import OpenVinoRunner

            backends.append(("openvino", lambda p: OpenVinoRunner(p, threads=args.threads, hint="latency")))
        for backend, make in backends:
            # OpenVINO reads Q/DQ; QOperator (QLinearConv) is onnxruntime's own form.
            chosen = {n: p for n, p in variants.items() if not (backend == "openvino" and n == "int8-cpu-qoperator")}
            log.info("timing %s on %s", ", ".join(chosen), backend)
            with contextlib.ExitStack() as stack:
                runners = {name: stack.enter_context(make(path)) for name, path in chosen.items()}
                for name, result in time_rounds(runners, x, args.warmup, args.iters, args.rounds).items():
                    rows.append({"backend": backend, "variant": name, **result})
    for backend in {r["backend"] for r in rows}:
        base = next(r["throughput_img_s"] for r in rows if r["backend"] == backend and r["variant"] == "fp32")
        for r in rows:
            if r["backend"] == backend:
                r["speedup_vs_fp32"] = r["throughput_img_s"] / base
    data = {"benchmark": "quantize_speed", "model": args.model, "input_size": args.size, "batch": args.batch,
            "threads": args.threads, "weights": "untrained", "calibration": f"{args.calib_samples} random images",
            "environment": env, "results": rows,
            "command": f"python benchmarks/quantize_speed.py --model {args.model} --size {args.size} --batch {args.batch} --threads {args.threads}"}
    write_json(out_dir / "quantize_speed.json", data)
    cpu = env.get("cpu", {}) if isinstance(env.get("cpu"), dict) else {}
    lines = [f"# INT8/FP32 CPU speed: {args.model} {args.size}x{args.size}, batch {args.batch}, {args.threads} threads", "",
             f"Machine: {cpu.get('model')}, {cpu.get('logical_cores')} logical cores; "
             f"{_versions(env)}. Command: `{data['command']}`", "",
             "| backend | variant | img/s | median ms/batch | x FP32 |", "|---|---|---:|---:|---:|"]
    lines += [f"| {r['backend']} | {r['variant']} | {r['throughput_img_s']:.1f} | {r['latency_ms_median']:.1f} | "
              f"{r['speedup_vs_fp32']:.2f} |" for r in rows]
    (out_dir / "quantize_speed.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
