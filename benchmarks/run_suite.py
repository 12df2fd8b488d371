#!/usr/bin/env python
"""The standard benchmark suite, on whatever runtimes and devices this machine has.

    python benchmarks/run_suite.py --quick        # 2-core CPU: batches 1 and 8, ~2 s each
    python benchmarks/run_suite.py                # full sweep
    python benchmarks/run_suite.py --only cpu-table

Views (each writes JSON + CSV + Markdown + PNG under benchmarks/results/<device>/):
- sweep_<model>: resnet18/50/101 at 224x224, every available backend, FP32/FP16/INT8 where the
  backend supports it (CPU backends: FP32 and INT8; GPU backends: FP32, FP16 and INT8);
- cpu_comparison_resnet50: ONE run of torch eager, onnxruntime FP32, onnxruntime INT8 in both
  Q/DQ layouts (tensorrt and cpu targets), OpenVINO FP32 and INT8;
- gpu_sweep_resnet50 (with a CUDA device): batch 1..256 for torch eager FP32/FP16
  channels_last, CUDA graphs, torch.compile, onnxruntime CUDA FP32/FP16 and TensorRT, with the
  best images/s and its fraction of the GPU's dense FP16 tensor peak.
Then benchmarks/update_readme.py regenerates the tables in benchmarks/README.md.
INT8 models here are calibrated on random data: right for timing, meaningless for accuracy.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.suite_common import (
    cuda_available,
    export_model,
    log,
    random_calibration,
    results_dir,
    save_result,
    write_json,
)
from resnet_deploy.backends.registry import RunOptions, available_backends
from resnet_deploy.bench import BackendSpec, BenchConfig, Warmup, run_benchmark
from resnet_deploy.bench.stats import MIN_SAMPLES

MODELS = ("resnet18", "resnet50", "resnet101")
CPU_BACKENDS = ("torch", "ort-cpu", "openvino")
GPU_BACKENDS = ("torch", "ort-cuda", "ort-trt", "tensorrt")
RESNET50_GMACS = 4.1


def peak_tflops(gpu_name: str) -> float | None:
    """Dense FP16 tensor peak of the GPU (benchmarks/gpu_peaks.py, with its sources)."""
    from benchmarks.gpu_peaks import fp16_peak

    found = fp16_peak(gpu_name)
    return found[0] if found else None


def config(specs: list[BackendSpec], batches: list[int], args: argparse.Namespace, gpu: bool = False) -> BenchConfig:
    return BenchConfig(specs, batch_sizes=batches, warmup=Warmup.parse(args.warmup),
                       duration_s=args.duration, iterations=None, min_iterations=args.min_iterations,
                       threads=args.threads, percentiles=(90.0, 95.0, 99.0))


def variants_for(model: str, work: Path, args: argparse.Namespace, want: tuple[str, ...]) -> dict[str, Any]:
    from resnet_deploy.pipeline.variants import build_variants

    fp32 = export_model(model, work)
    calib = random_calibration(work, 224, args.calib_samples)
    return build_variants(fp32, work, want=want, calib=str(calib), samples=args.calib_samples, method="max",
                          stem=fp32.stem)


def onnx_specs(backend: str, variants: dict[str, Any], names: tuple[str, ...], notes: list[str]) -> list[BackendSpec]:
    specs = []
    for name in names:
        variant = variants.get(name)
        if variant is None:
            continue
        if not variant.ok:
            notes.append(f"{backend} {name}: skipped: {variant.reason}")
            continue
        specs.append(BackendSpec(backend, artifact=variant.path, label=f"{backend} {name}"))
    return specs


def run_cpu_table(out: Path, work: Path, args: argparse.Namespace, status: dict[str, str | None]) -> None:
    """resnet50 on the CPU: torch eager, onnxruntime FP32 and INT8 (both layouts), OpenVINO FP32/INT8."""
    variants = variants_for("resnet50", work, args, ("int8-tensorrt", "int8-cpu"))
    notes: list[str] = []
    specs: list[BackendSpec] = []
    if status.get("torch") is None:
        specs.append(BackendSpec("torch", model="resnet50", label="torch eager fp32", options=RunOptions(device="cpu")))
    else:
        notes.append(f"torch: {status['torch']}")
    for backend in ("ort-cpu", "openvino"):
        if status.get(backend) is None:
            names = ("fp32", "int8-tensorrt", "int8-cpu") if backend == "ort-cpu" else ("fp32", "int8-cpu")
            specs += onnx_specs(backend, variants, names, notes)
        else:
            notes.append(f"{backend}: {status[backend]}")
    data = run_benchmark(config(specs, args.batches, args), progress=_progress, skip_unavailable=True).to_dict()
    data["suite_notes"] = notes
    save_result(data, out, "cpu_comparison_resnet50", "CPU comparison: resnet50 224x224")


def run_sweeps(out: Path, work: Path, args: argparse.Namespace, status: dict[str, str | None], gpu: bool) -> None:
    backends = GPU_BACKENDS if gpu else CPU_BACKENDS
    want = ("fp16", "int8-tensorrt", "int8-cpu") if gpu else ("int8-cpu",)
    for model in args.models:
        variants = variants_for(model, work, args, want)
        notes: list[str] = []
        specs: list[BackendSpec] = []
        for backend in backends:
            if status.get(backend) is not None:
                notes.append(f"{backend}: {status[backend]}")
                continue
            if backend == "torch":
                device = "cuda" if gpu else "cpu"
                specs.append(BackendSpec("torch", model=model, label="torch fp32", options=RunOptions(device=device)))
                if gpu:
                    specs.append(BackendSpec("torch", model=model, label="torch fp16 channels_last",
                                             options=RunOptions(device=device, precision="fp16", channels_last=True)))
            elif backend == "openvino" or backend == "ort-cpu":
                specs += onnx_specs(backend, variants, ("fp32", "int8-cpu"), notes)
            elif backend == "tensorrt":
                specs += tensorrt_specs(variants, work, notes)
            else:
                specs += onnx_specs(backend, variants, ("fp32", "fp16", "int8-tensorrt"), notes)
        data = run_benchmark(config(specs, args.batches, args, gpu), progress=_progress, skip_unavailable=True).to_dict()
        data["suite_notes"] = notes
        save_result(data, out, f"sweep_{model}", f"{model} 224x224 sweep")


def tensorrt_specs(variants: dict[str, Any], work: Path, notes: list[str]) -> list[BackendSpec]:
    """Build one plan per precision (FP16 from the FP16 model, INT8 from the Q/DQ model)."""
    try:
        from resnet_deploy.tensorrt import build_engine  # type: ignore[attr-defined]
    except ImportError as exc:
        notes.append(f"tensorrt: the engine builder is not in this build ({exc})")
        return []
    specs = []
    for name in ("fp16", "int8-tensorrt"):
        variant = variants.get(name)
        if variant is None or not variant.ok:
            continue
        plan = work / f"{variant.path.stem}.plan"
        try:
            build_engine(variant.path, plan, min_batch=1, opt_batch=32, max_batch=256)
        except Exception as exc:  # a failed build is reported, the rest of the suite goes on
            notes.append(f"tensorrt {name}: build failed: {exc}")
            continue
        specs.append(BackendSpec("tensorrt", artifact=plan, label=f"tensorrt {name}"))
    return specs


def run_gpu_sweep(out: Path, work: Path, args: argparse.Namespace, status: dict[str, str | None], env: dict[str, Any]) -> None:
    """resnet50, batch 1..256 on the GPU, and the best images/s against the FP16 tensor peak."""
    variants = variants_for("resnet50", work, args, ("fp16", "int8-tensorrt"))
    notes: list[str] = []
    specs = [
        BackendSpec("torch", model="resnet50", label="torch eager fp32 channels_last",
                    options=RunOptions(device="cuda", channels_last=True)),
        BackendSpec("torch", model="resnet50", label="torch eager fp16 channels_last",
                    options=RunOptions(device="cuda", precision="fp16", channels_last=True)),
        BackendSpec("torch-cudagraph", model="resnet50", label="torch cuda graph fp16",
                    options=RunOptions(device="cuda", precision="fp16", channels_last=True)),
        BackendSpec("torch-compile", model="resnet50", label="torch.compile fp16",
                    options=RunOptions(device="cuda", precision="fp16", channels_last=True)),
    ]
    if status.get("ort-cuda") is None:
        specs += onnx_specs("ort-cuda", variants, ("fp32", "fp16"), notes)
    else:
        notes.append(f"ort-cuda: {status['ort-cuda']}")
    if status.get("tensorrt") is None:
        specs += tensorrt_specs(variants, work, notes)
    else:
        notes.append(f"tensorrt: {status['tensorrt']}")
    batches = args.gpu_batches
    data = run_benchmark(config(specs, batches, args, gpu=True), progress=_progress, skip_unavailable=True).to_dict()
    data["suite_notes"] = notes
    gpu_name = str((env.get("gpus") or [{}])[0].get("name", "unknown GPU"))
    best = max(((r["throughput_ips"], b["label"], r["batch"]) for b in data["backends"] for r in b["results"]),
               default=None)
    peak = peak_tflops(gpu_name)
    summary: dict[str, Any] = {"gpu": gpu_name, "fp16_dense_peak_tflops": peak, "resnet50_gmacs": RESNET50_GMACS}
    if best is not None:
        achieved = best[0] * RESNET50_GMACS * 2 / 1000.0  # TFLOP/s
        summary.update({"best_images_per_s": best[0], "best_backend": best[1], "best_batch": best[2],
                        "achieved_tflops": achieved, "fraction_of_peak": achieved / peak if peak else None})
    data["peak_summary"] = summary
    save_result(data, out, "gpu_sweep_resnet50", f"resnet50 GPU sweep on {gpu_name}")
    write_json(out / "gpu_peak_summary.json", summary)


def _progress(message: str) -> None:
    log.info("timing %s", message)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="batches 1 and 8, 2 s each; the sweep runs resnet18 only")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--batch-sizes", help="CPU/sweep batches (default 1,2,4,8,16,32; --quick: 1,8)")
    parser.add_argument("--gpu-batch-sizes", default="1-256")
    parser.add_argument("--duration", type=float, help="measured seconds per batch (default 5; --quick: 2)")
    parser.add_argument("--warmup", default="1s")
    parser.add_argument("--min-iterations", type=int, default=MIN_SAMPLES,
                        help="at least this many iterations per point (default: the trust rule's minimum)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: every core available)")
    parser.add_argument("--calib-samples", type=int, default=16)
    parser.add_argument("--only", choices=("sweep", "cpu-table", "gpu"), action="append")
    parser.add_argument("--work", type=Path, help="where the ONNX models go (default: a temporary folder)")
    parser.add_argument("--out", type=Path, help="results root (default benchmarks/results)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    from resnet_deploy.bench.config import cpu_threads_default, parse_batch_sizes

    args.models = [m for m in args.models.split(",") if m]
    if args.quick and args.models == list(MODELS):
        args.models = ["resnet18"]  # resnet50 is already in the CPU table
    args.batches = parse_batch_sizes(args.batch_sizes or ("1,8" if args.quick else "1,2,4,8,16,32"))
    args.gpu_batches = parse_batch_sizes(args.gpu_batch_sizes)
    args.duration = args.duration or (2.0 if args.quick else 5.0)
    args.threads = args.threads or cpu_threads_default()
    only = set(args.only or ("sweep", "cpu-table", "gpu"))
    gpu = cuda_available()
    out, env = results_dir(args.out)
    status = available_backends()
    log.info("results -> %s; backends: %s", out, ", ".join(b for b, why in status.items() if why is None))
    with tempfile.TemporaryDirectory(prefix="rd-suite-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if "cpu-table" in only:
            run_cpu_table(out, work, args, status)
        if "sweep" in only:
            run_sweeps(out, work, args, status, gpu)
        if "gpu" in only and gpu:
            run_gpu_sweep(out, work, args, status, env)
    from benchmarks.update_readme import main as update_readme

    return update_readme([])


if __name__ == "__main__":
    raise SystemExit(main())
