"""CPU speed of BF16 against FP32: ResNet-50 on OpenVINO (inference precision) and torch (BF16 weights).

    python benchmarks/bf16_speed.py [--model resnet50] [--size 224] [--batches 1 8] [--threads 2]

One FP32 model (untrained weights: speed does not depend on them), run by each backend in
FP32 and in BF16 computed from it (`--precision bf16`: OpenVINO's INFERENCE_PRECISION_HINT,
torch: the weights stored in BF16 once, channels_last for both torch variants), plus the BF16 graph
(`quantize --precision bf16`) on OpenVINO. Every variant is opened through the backend
registry as the CLI opens it, and what it really ran is read back from the runner (OpenVINO:
the compiled model's hint and its compute layers' runtime precision). Variants are
interleaved in `--rounds` rounds (quantize_speed.time_rounds) so background load hits all
alike; the figure that counts is BF16 / FP32 throughput within one run.

The bar (issue 20): BF16 at least 1.6x FP32 on a CPU with avx512_bf16 or AMX. On a CPU
without native BF16 the script records that and skips the timing (emulated BF16 is slower
than FP32 and says nothing about the feature). Writes
benchmarks/results/<device>/bf16_speed.<isa label>.{json,md} (e.g. avx512_vnni+amx_bf16).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.quantize_speed import time_rounds
from benchmarks.suite_common import (
    export_model,
    load_record,
    machine,
    machine_header,
    results_dir,
    write_json,
)
from resnet_deploy import cpu_isa
from resnet_deploy.render import Column, markdown_table

log = logging.getLogger("benchmarks.bf16_speed")

BAR = 1.6  # BF16 / FP32 throughput on a CPU with native BF16


def variants(fp32: Path, bf16_graph: Path, model: str, threads: int, size: int) -> list[tuple[str, str, str, Any]]:
    """(backend, variant, requested precision, RunOptions source) for every timed variant."""
    from resnet_deploy.backends.registry import RunOptions, unavailable_reason

    rows: list[tuple[str, str, str, Any]] = []
    if unavailable_reason("openvino") is None:
        rows += [("openvino", "fp32 model, f32 hint", "fp32", (fp32, RunOptions(threads=threads, precision="fp32"))),
                 ("openvino", "fp32 model, bf16 hint", "bf16", (fp32, RunOptions(threads=threads, precision="bf16"))),
                 ("openvino", "bf16 graph", "bf16", (bf16_graph, RunOptions(threads=threads)))]
    torch_options = {"threads": threads, "channels_last": True, "input_size": (size, size)}
    rows += [("torch", "fp32, channels_last", "fp32", (model, RunOptions(precision="fp32", **torch_options))),
             ("torch", "bf16 weights, channels_last", "bf16", (model, RunOptions(precision="bf16", **torch_options)))]
    return rows


def measure(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    from resnet_deploy.backends.registry import open_runner
    from resnet_deploy.precision.bf16 import convert_bf16

    fp32 = export_model(args.model, work, args.size)
    bf16_graph = work / f"{fp32.stem}.bf16.onnx"
    if not bf16_graph.exists():
        convert_bf16(fp32, bf16_graph)
    plan = variants(fp32, bf16_graph, args.model, args.threads, args.size)
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        runners = {}
        for backend, variant, _, (source, options) in plan:
            runners[(backend, variant)] = stack.enter_context(open_runner(backend, source, options))
        for batch, iters in zip(args.batches, args.iters, strict=True):
            x = np.random.default_rng(0).standard_normal((batch, 3, args.size, args.size), dtype=np.float32)
            named = {f"{b} / {v}": runner for (b, v), runner in runners.items()}
            log.info("timing %d variants at batch %d", len(named), batch)
            timed = time_rounds(named, x, args.warmup, iters, args.rounds)
            for backend, variant, asked, _ in plan:
                described = runners[(backend, variant)].describe()
                rows.append({"backend": backend, "variant": variant, "batch": batch, "asked": asked,
                             "ran": described.get("precision"), "openvino_precision": described.get("openvino_precision"),
                             "bf16_native": described.get("bf16_native"), **timed[f"{backend} / {variant}"]})
    for row in rows:
        base = next(r for r in rows if r["backend"] == row["backend"] and r["batch"] == row["batch"]
                    and r["asked"] == "fp32")
        row["x_fp32"] = row["throughput_img_s"] / base["throughput_img_s"]
    return rows


def render(data: dict[str, Any]) -> str:
    isa = data["isa"]
    lines = [f"# BF16 vs FP32 CPU speed: {data['model']} {data['input_size']}x{data['input_size']}, "
             f"{data['threads']} threads", "",
             f"{machine_header(data)} (BF16: {isa['bf16'] or 'not native'}, "
             f"from {isa['source']}). Command: `{data['command']}`. Variants interleaved in rounds, so background "
             "load hits all alike; the ratios within one run are what counts"
             + (f" (1-minute load average {data['load_average_1min']['before']:.1f} before, "
                f"{data['load_average_1min']['after']:.1f} after, on {data['environment']['cpu']['logical_cores']} cores)."
                if data.get("load_average_1min") else "."), ""]
    if data.get("skipped"):
        return "\n".join([*lines, f"SKIPPED: {data['skipped']}"]) + "\n"
    lines.append(markdown_table(
        [Column("backend"), Column("variant"), Column("batch"), Column("asked"), Column("ran"), Column("img/s", ".1f"),
         Column("median ms/batch", ".1f"), Column("x FP32", ".2f")],
        [[r["backend"], r["variant"], r["batch"], r["asked"], r["ran"], r["throughput_img_s"], r["latency_ms_median"],
          r["x_fp32"]] for r in data["results"]]))
    lines += ["", f"Bar: BF16 >= {BAR}x FP32 on a CPU with native BF16. " + "; ".join(
        f"{v['backend']} batch {v['batch']}: {v['x_fp32']:.2f}x ({'met' if v['met'] else 'MISSED'})"
        for v in data["verdicts"])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--iters", type=int, nargs="+", default=None, help="batches per round, one per --batches")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None, help="folder for the models (default: a temporary one)")
    args = parser.parse_args(argv)
    args.iters = args.iters or [max(2, 24 // b) for b in args.batches]
    if len(args.iters) != len(args.batches):
        parser.error("give one --iters per --batches")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out_dir, env = results_dir()
    isa = cpu_isa.detect_isa()
    data: dict[str, Any] = {
        "benchmark": "bf16_speed", "model": args.model, "input_size": args.size, "batches": args.batches,
        "threads": args.threads, "rounds": args.rounds, "weights": "untrained",
        "isa": {"name": isa.name, "bf16": isa.bf16, "label": isa.label, "flags": list(isa.flags), "source": isa.source},
        "machine": machine(env), "environment": env,
        "command": "python benchmarks/bf16_speed.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    if isa.bf16 is None:
        data["skipped"] = cpu_isa.bf16_message(isa)
        log.warning("skipped: %s", data["skipped"])
    else:
        with tempfile.TemporaryDirectory(prefix="bf16speed.") as tmp:
            work = args.work or Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            load_before = os.getloadavg()[0]
            data["results"] = measure(args, work)
            data["load_average_1min"] = load_record(load_before, os.getloadavg()[0])
        data["verdicts"] = [{"backend": r["backend"], "batch": r["batch"], "variant": r["variant"],
                             "x_fp32": r["x_fp32"], "met": r["x_fp32"] >= BAR}
                            for r in data["results"] if r["asked"] == "bf16" and r["variant"] != "bf16 graph"]
    stem = f"bf16_speed.{isa.label}"
    write_json(out_dir / f"{stem}.json", data)
    (out_dir / f"{stem}.md").write_text(render(data), encoding="utf-8")
    print(render(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
