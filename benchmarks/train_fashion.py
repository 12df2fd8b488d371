"""ResNets trained on Fashion-MNIST (the Debian package's folder) with the project's own command.

Runs `resnet-deploy train --model M --dataset fashion-mnist ...` as a subprocess, as a user
types it, and records the wall time of the whole command, the final and best test top-1
(the 10,000 test images are the validation split), the training images/s, the CPU time and
the load average around it (this machine is shared: a load above the core count means other
jobs took CPU time and the wall time is pessimistic), with the machine, to
benchmarks/results/<device>/train_fashion_<model>.{json,md}. The checkpoint stays in
--work for benchmarks/quantize_accuracy.py --dataset fashion-mnist and the --max-drop bar.

    python benchmarks/train_fashion.py --model resnet20 --epochs 3      # aim: 92% top-1
    python benchmarks/train_fashion.py --model resnet56 --epochs 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.suite_common import results_dir, write_json

TARGET_TOP1 = 0.92
TARGET_SECONDS = 40 * 60.0
# bf16 autocast and channels-last: on a CPU with AMX (this session's Xeon) about 7x the FP32
# training rate; on a CPU without bf16 units autocast still runs (more slowly).
FAST = ["--amp", "bf16", "--channels-last"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--work", type=Path, default=Path("/tmp/resnet-deploy-fashion"),
                        help="Where the run folder (checkpoints) is kept: WORK/<model>-e<epochs>.")
    parser.add_argument("--no-fast", action="store_true", help="FP32 training (no bf16 autocast, no channels-last).")
    parser.add_argument("--note", default="", help="A sentence recorded with the figures (e.g. why the run is short).")
    args = parser.parse_args()
    out_dir, env = results_dir()
    run = args.work / f"{args.model}-e{args.epochs}"
    options = ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size), *([] if args.no_fast else FAST)]
    cmd = [sys.executable, "-m", "resnet_deploy", "train", "--model", args.model, "--dataset", "fashion-mnist",
           *options, "--out", str(run), "--overwrite", "--no-progress", "--json"]
    load_before = os.getloadavg()
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    load_after = os.getloadavg()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return proc.returncode
    report = json.loads(proc.stdout)
    final = report["final"]
    data = {
        "benchmark": "train_fashion",
        "command": f"resnet-deploy train --model {args.model} --dataset fashion-mnist {' '.join(options)}",
        "model": args.model, "dataset": "fashion-mnist", "test_images": 10000, "epochs": args.epochs,
        "batch_size": args.batch_size, "lr": report["config"]["lr_effective"], "schedule": report["config"]["schedule"],
        "final_test_top1": final["val_top1"], "best_test_top1": report["best_val_top1"],
        "best_epoch": report["best_epoch"], "checkpoint": str(report["best_checkpoint"]),
        "wall_seconds": round(wall, 1), "train_seconds": round(report["seconds"], 1),
        "train_images_per_second": report["train_images_per_second"],
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "load_average_1min": {"before": round(load_before[0], 2), "after": round(load_after[0], 2)},
        "meets_target": final["val_top1"] >= TARGET_TOP1 and wall <= TARGET_SECONDS,
        "target": {"test_top1": TARGET_TOP1, "wall_seconds": TARGET_SECONDS},
        "note": args.note,
        "history": [{k: h[k] for k in ("epoch", "train_loss", "train_top1", "val_loss", "val_top1", "train_images_per_s")}
                    for h in report.get("history", [])],
        "environment": env,
    }
    stem = f"train_fashion_{args.model}"
    write_json(out_dir / f"{stem}.json", data)
    cpu = env.get("cpu", {}) if isinstance(env.get("cpu"), dict) else {}
    md = [f"# {data['command']}", "",
          "| model | epochs | final test top-1 | best test top-1 | wall time (min) | train images/s | aim (>=92%, <=40 min) |",
          "|---|---|---|---|---|---|---|",
          f"| {args.model} | {args.epochs} | {100 * data['final_test_top1']:.2f}% | {100 * data['best_test_top1']:.2f}% "
          f"| {wall / 60:.1f} | {data['train_images_per_second']:.0f} | {'met' if data['meets_target'] else 'not met'} |",
          "", "Test top-1 on the 10,000 Fashion-MNIST test images.",
          f"CPU time {data['cpu_seconds']:.0f} s; 1-minute load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after (a load above the core count means a shared CPU: the wall time is pessimistic).",
          *([f"Note: {args.note}"] if args.note else []),
          "", f"Machine: {cpu.get('model', env.get('cpu_model', '?'))}, {cpu.get('logical_cores', '?')} cores, "
          f"ISA {', '.join(cpu.get('isa') or ['?'])}.", ""]
    (out_dir / f"{stem}.md").write_text("\n".join(md), encoding="utf-8")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
