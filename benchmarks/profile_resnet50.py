"""Per-layer profiles of ResNet-50 (224x224, batch 1) on the CPU runtimes, and FP32 against INT8.

    python benchmarks/profile_resnet50.py [--iterations 50] [--warmup 10] [--threads 2] [--work DIR]

`resnet-deploy profile` on onnxruntime (its profiler) and OpenVINO (its performance counters):
for each, the sum of the layers' medians beside the end-to-end median of the same run, and
whether it is within 15% (the bar of issue #18). Then the INT8 model (CPU layout, random
calibration: speed does not depend on the weights or the calibration data) against FP32 on
both runtimes, layer by layer. Untrained weights. Writes
benchmarks/results/<device>/profile_resnet50.{json,md} with the machine (CPU model, ISA).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.suite_common import export_model, random_calibration, results_dir, write_json
from resnet_deploy import cpu_isa
from resnet_deploy.profile import ProfileResult, ProfileSettings, compare_profiles, profile_model
from resnet_deploy.render import Column, markdown_table

log = logging.getLogger("benchmarks.profile_resnet50")
BAR = 0.15  # the layer sum within 15% of the end-to-end median


def _row(name: str, result: ProfileResult) -> dict[str, Any]:
    off = result.layer_sum_ms / result.end_to_end_ms - 1
    runtime = result.runtime_ms
    return {"variant": name, "backend": result.backend, "layers": len(result.layers),
            "end_to_end_ms": result.end_to_end_ms, "layer_sum_ms": result.layer_sum_ms,
            "sum_of_medians_ms": result.sum_of_medians_ms, "layer_sum_vs_end_to_end": off,
            "within_15pct": abs(off) <= BAR, "runtime_ms": runtime,
            "layer_sum_vs_runtime": result.layer_sum_ms / runtime - 1 if runtime else None,
            "by_precision": {t.key: t.share for t in result.totals("precision")},
            "top_ops": {t.key: t.share for t in result.totals("op_type")[:4]}}


def _gaps(rows: list[dict[str, Any]]) -> list[str]:
    """One line per run outside the bar: where its missing time is, from the run's own figures."""
    lines = []
    for r in rows:
        if r["within_15pct"] or not r["runtime_ms"]:
            continue
        executor = r["runtime_ms"] - r["layer_sum_ms"]
        call = r["end_to_end_ms"] - r["runtime_ms"]
        per_layer = executor / r["layers"] * 1000
        lines.append(f"- {r['variant']} on {r['backend']}: the layers are {r['layer_sum_ms'] / r['end_to_end_ms']:.0%} "
                     f"of the end-to-end median. {executor:.2f} ms lie between the layer sum and the runtime's own time "
                     f"(its executor between {r['layers']} kernels: {per_layer:.0f} us each, which weighs more the "
                     f"shorter the kernels are) and {call:.2f} ms between that and the end-to-end median (the call).")
    return [*lines, ""] if lines else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calib-samples", type=int, default=32)
    parser.add_argument("--work", type=Path, default=None, help="Folder for the models (default: a temporary one).")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out_dir, env = results_dir()
    settings = ProfileSettings(iterations=args.iterations, warmup=args.warmup, threads=args.threads)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        fp32 = export_model("resnet50", work)
        int8 = work / "resnet50_224.int8.onnx"
        if not int8.exists():
            from resnet_deploy.precision import quantize_int8

            quantize_int8(fp32, int8, calib=str(random_calibration(work, 224, args.calib_samples)),
                          samples=args.calib_samples, target="cpu")
        profiles: dict[tuple[str, str], ProfileResult] = {}
        for backend in ("ort-cpu", "openvino"):
            for name, model in (("fp32", fp32), ("int8", int8)):
                log.info("profiling %s on %s", name, backend)
                profiles[(name, backend)] = profile_model(model, backend=backend, settings=settings)
    load = (load_before, os.getloadavg()[0])  # 1-minute load average before and after: other jobs on the machine
    rows = [_row(name, result) for (name, _), result in profiles.items()]
    comparisons = {backend: compare_profiles(profiles[("fp32", backend)], profiles[("int8", backend)])
                   for backend in ("ort-cpu", "openvino")}
    isa = cpu_isa.detect_isa()
    cpu = env.get("cpu", {}) if isinstance(env.get("cpu"), dict) else {}
    command = (f"python benchmarks/profile_resnet50.py --iterations {args.iterations} --warmup {args.warmup} "
               f"--threads {args.threads}")
    data = {"benchmark": "profile_resnet50", "model": "resnet50", "input_size": 224, "batch": 1,
            "iterations": args.iterations, "warmup": args.warmup, "threads": args.threads, "weights": "untrained",
            "int8": f"CPU layout, {args.calib_samples} random calibration images",
            "isa": {"name": isa.name, "vnni": isa.vnni, "flags": list(isa.flags)}, "environment": env,
            "load_average_1min": {"before": load[0], "after": load[1]}, "results": rows, "comparisons": {b: c.summary().to_dict() for b, c in comparisons.items()},
            "profiles": {f"{name}/{backend}": result.to_dict() for (name, backend), result in profiles.items()},
            "command": command}
    write_json(out_dir / "profile_resnet50.json", data)
    table = markdown_table(
        [Column("variant"), Column("backend"), Column("layers"), Column("end-to-end median ms", ".2f"),
         Column("layer sum ms", ".2f"), Column("sum vs end-to-end", "+.1%"), Column("within 15%"),
         Column("sum of layer medians ms", ".2f"),
         Column("runtime's own ms", ".2f"), Column("int8 share", ".0%")],
        [[r["variant"], r["backend"], r["layers"], r["end_to_end_ms"], r["layer_sum_ms"], r["layer_sum_vs_end_to_end"],
          "yes" if r["within_15pct"] else "NO", r["sum_of_medians_ms"], r["runtime_ms"], r["by_precision"].get("int8", 0.0)] for r in rows])
    diff_table = markdown_table(
        [Column("backend"), Column("FP32 ms"), Column("INT8 ms"), Column("speed-up", ".2f"),
         Column("INT8: conversions ms", ".2f"), Column("INT8: left in float ms", ".2f"),
         Column("INT8: no faster ms", ".2f")],
        [[b, f"{s['a_end_to_end_ms']:.2f}", f"{s['b_end_to_end_ms']:.2f}", s["end_to_end_speedup"], s["b_conversions_ms"],
          s["b_left_in_float_ms"], s["b_no_faster_ms"]] for b, s in data["comparisons"].items()])
    lines = ["# Per-layer profile of ResNet-50 (224x224, batch 1) on the CPU runtimes", "",
             f"Machine: {cpu.get('model')}, {cpu.get('logical_cores')} logical cores, ISA {isa.name} "
             f"({', '.join(isa.flags) or 'none of the INT8 flags'}); 1-minute load "
             f"average {load[0]:.1f} before, {load[1]:.1f} after, on {cpu.get('logical_cores')} cores (above the core "
             "count, other jobs shared the CPU and every time here is slower than on a quiet machine; the ratios "
             "within the run are what counts). "
             f"{args.iterations} iterations after {args.warmup} warm-up, {args.threads} threads, untrained weights. "
             f"Command: `{command}`", "", table, "",
             "Layer sum: the median over the iterations of the sum of all layers in each iteration; end-to-end: the "
             "median of the same iterations timed from the caller (runner.infer). Both are medians of per-iteration "
             "totals. The sum of each layer's own median is lower when other load on the machine slows different "
             "layers in different iterations (each layer's median drops its slow iterations, the total does not); "
             "the gap between the two columns is a measure of that load. `runtime's own ms`: onnxruntime's `model_run` "
             "event, OpenVINO's request latency; what lies between it and the layer sum is the runtime's executor "
             "between kernels (onnxruntime's trace and OpenVINO's counters time the kernels only), what lies between "
             "it and the end-to-end median is the Python call.", "", *_gaps(rows), "", "FP32 against INT8, layer by layer (`resnet-deploy profile r50.onnx r50.int8.onnx`):",
             "", diff_table, ""]
    (out_dir / "profile_resnet50.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
