"""CPU speed of the precision variants: FP32 vs INT8 (cpu and tensorrt layouts), onnxruntime and OpenVINO.

    python benchmarks/quantize_speed.py [--model resnet50] [--size 224] [--batch 8] [--threads 2]

Untrained weights (speed does not depend on them) and random calibration images. Every
variant is timed in the same run with the same loop: warm-up outside the measured part,
then `--rounds` rounds of `--iters` batches per variant, variants interleaved so background load
hits all alike; perf_counter_ns per batch; throughput = median round's images / time.
Writes benchmarks/results/<device>/quantize_speed.<isa>.{json,md}: INT8 speed depends on the
CPU's instruction set (cpu_isa.py: VNNI sums u8 x s8 products in one instruction, AVX2 needs
three), so each ISA keeps its own file. The ratio INT8/FP32 within one run is the figure that
counts: other processes on the machine shift both.

Besides speed, each INT8 variant's largest deviation from its own Q/DQ graph (onnxruntime
with no graph optimization: float arithmetic on the dequantized values) on the timed batch,
relative to the largest logit: the runtime's integer kernels should not add to the model's
quantization error. On a CPU without VNNI the variants made for a VNNI CPU (8-bit weights)
are timed too, to show what the 7-bit remedy costs and what it fixes.
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
from resnet_deploy import cpu_isa
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


def qdq_reference(path: Path, x: np.ndarray) -> np.ndarray:
    """The Q/DQ graph's own answer: onnxruntime without graph optimization (no integer kernels)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])


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
        isa = cpu_isa.detect_isa()
        plan = [("int8-cpu", "cpu", "qdq", None), ("int8-cpu-qoperator", "cpu", "qoperator", None),
                ("int8-tensorrt", "tensorrt", "qdq", None)]
        if not isa.vnni:  # what the 7-bit remedy costs and fixes: the same models made for a VNNI CPU
            plan += [("int8-cpu-for-vnni", "cpu", "qdq", "avx512_vnni")]
        made_for: dict[str, str] = {}
        for name, target, fmt, for_isa in plan:
            result = quantize_int8(fp32, work / f"{fp32.stem}.{name}.onnx", calib=str(calib),
                                   samples=args.calib_samples, target=target, cpu_format=fmt, isa=for_isa,
                                   cache_path=work / "calib.json")
            variants[name] = result.output
            made_for[name] = f"{result.details['cpu_isa']['made_for']}, {result.details['cpu_isa']['weight_bits']}-bit"
        x = np.random.default_rng(0).standard_normal((args.batch, 3, args.size, args.size), dtype=np.float32)
        # QOperator nodes are integer kernels even unoptimized: its Q/DQ twin (same ranges and
        # weights) gives the graph's arithmetic.
        twins = {"int8-cpu-qoperator": "int8-cpu"}
        references = {name: qdq_reference(variants[twins.get(name, name)], x) for name in variants if name != "fp32"}
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
                deviation = {}
                for name, runner in runners.items():
                    if name in references:
                        out = runner.infer({runner.inputs()[0].name: x})
                        reference = references[name]
                        deviation[name] = float(np.abs(next(iter(out.values())) - reference).max() / np.abs(reference).max())
                for name, result in time_rounds(runners, x, args.warmup, args.iters, args.rounds).items():
                    rows.append({"backend": backend, "variant": name, "made_for": made_for.get(name, "-"),
                                 "deviation_from_qdq_graph": deviation.get(name), **result})
    for backend in {r["backend"] for r in rows}:
        base = next(r["throughput_img_s"] for r in rows if r["backend"] == backend and r["variant"] == "fp32")
        for r in rows:
            if r["backend"] == backend:
                r["speedup_vs_fp32"] = r["throughput_img_s"] / base
    isa = cpu_isa.detect_isa()
    data = {"benchmark": "quantize_speed", "model": args.model, "input_size": args.size, "batch": args.batch,
            "threads": args.threads, "weights": "untrained", "calibration": f"{args.calib_samples} random images",
            "isa": {"name": isa.name, "vnni": isa.vnni, "flags": list(isa.flags), "source": isa.source},
            "environment": env, "results": rows,
            "command": f"python benchmarks/quantize_speed.py --model {args.model} --size {args.size} --batch {args.batch} --threads {args.threads}"}
    stem = f"quantize_speed.{isa.name}"
    write_json(out_dir / f"{stem}.json", data)
    cpu = env.get("cpu", {}) if isinstance(env.get("cpu"), dict) else {}
    from resnet_deploy.render import Column, markdown_table

    table = markdown_table(
        [Column("backend"), Column("variant"), Column("made for"), Column("img/s", ".1f"),
         Column("median ms/batch", ".1f"), Column("x FP32", ".2f"), Column("max dev. from Q/DQ graph", ".1%")],
        [[r["backend"], r["variant"], r["made_for"], r["throughput_img_s"], r["latency_ms_median"],
          r["speedup_vs_fp32"], r["deviation_from_qdq_graph"]] for r in rows])
    lines = [f"# INT8/FP32 CPU speed on {isa.name}: {args.model} {args.size}x{args.size}, batch {args.batch}, "
             f"{args.threads} threads", "",
             f"Machine: {cpu.get('model')}, {cpu.get('logical_cores')} logical cores, ISA {isa.name} "
             f"({', '.join(isa.flags) or 'none of the INT8 flags'}); {_versions(env)}. Command: `{data['command']}`", "",
             table, "",
             "Deviation: largest |output - the Q/DQ graph's output| over the largest |logit|, on the timed batch "
             "(the graph's output: onnxruntime with no graph optimization)."]
    (out_dir / f"{stem}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
