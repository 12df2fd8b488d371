"""Peak resident memory and time of INT8 calibration, each sample count in a fresh process.

    python benchmarks/calibration_memory.py [--model resnet50] [--samples 32 128 512]
                                            [--methods max] [--data random|digits] [--label after]

The parent exports the model (untrained: ranges, not accuracy, are measured here) and writes
the calibration images once; every (method, samples) point then runs in its own Python process
that loads the model, loads the calibration data, computes the ranges (no cache) and reports
`resource.getrusage(RUSAGE_SELF).ru_maxrss` (the process's peak resident set: import, data and
calibration together) and the seconds spent calibrating. Points run one at a time. Results
are merged by `--label` into benchmarks/results/<device>/calibration_memory.{json,md}, so a
"before" and an "after" run of the same command sit side by side.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

log = logging.getLogger("benchmarks.calibration_memory")


def child(model: Path, data: str, samples: int, method: str, batch_size: int) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    from resnet_deploy.precision import calibration
    from resnet_deploy.precision._model import load_source

    source = load_source(model)
    data_start = time.perf_counter()
    images = calibration.load_calibration_data(data, source, samples=samples)
    data_seconds = time.perf_counter() - data_start
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    if hasattr(calibration, "tensor_ranges_with_batch"):  # since the memory-bounded calibration
        ranges, _, used = calibration.tensor_ranges_with_batch(source, images, method=method, batch_size=batch_size)
    else:  # the code before it (run from an older checkout for the "before" figures) used batch_size
        ranges, _ = calibration.tensor_ranges(source, images, method=method, batch_size=batch_size, cache_path=None)
        used = batch_size
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import resnet_deploy

    return {"samples": images.samples, "method": method, "batch": used, "peak_rss_mb": round(peak, 1),
            "code": str(Path(resnet_deploy.__file__).parent),
            "peak_rss_before_calibration_mb": round(rss_before, 1), "calibration_seconds": round(seconds, 2),
            "data_seconds": round(data_seconds, 2), "tensors": len(ranges),
            "ranges_digest": _digest(ranges)}


def _digest(ranges: dict[str, tuple[float, float]]) -> str:
    import hashlib

    text = json.dumps(sorted((k, float(lo), float(hi)) for k, (lo, hi) in ranges.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_point(model: Path, data: str, samples: int, method: str, batch_size: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", "--model-path", str(model), "--data-path", data,
               "--samples", str(samples), "--methods", method, "--batch-size", str(batch_size)]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"calibration point {method}/{samples} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--samples", type=int, nargs="+", default=[32, 128, 512])
    parser.add_argument("--methods", nargs="+", default=["max"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--data", choices=["random", "digits"], default="random",
                        help="random: seeded normal images in a .npy; digits: the bundled set, as the README's quantize")
    parser.add_argument("--label", default="after", help="name of this run in the results file (e.g. before/after)")
    parser.add_argument("--work", type=Path, default=Path("runs/calibration_memory"))
    parser.add_argument("--results-dir", type=Path, default=None,
                        help="where calibration_memory.{json,md} go (default benchmarks/results/<device>/)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model-path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data-path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.model_path, args.data_path, args.samples[0], args.methods[0], args.batch_size)))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from benchmarks.suite_common import export_model, random_calibration, results_dir, write_json
    from resnet_deploy import cpu_isa

    args.work.mkdir(parents=True, exist_ok=True)
    model = export_model(args.model, args.work, args.size)
    data = str(random_calibration(args.work, args.size, max(args.samples))) if args.data == "random" else "digits"
    points = []
    for method in args.methods:
        for samples in args.samples:
            log.info("calibrating %s: %s, %d samples, batch %d (%s)", args.model, method, samples, args.batch_size, args.data)
            point = run_point(model, data, samples, method, args.batch_size)
            log.info("  peak RSS %.0f MB, %.1f s", point["peak_rss_mb"], point["calibration_seconds"])
            points.append(point)
    out_dir, env = results_dir()
    out_dir = args.results_dir or out_dir
    isa = cpu_isa.detect_isa()
    path = out_dir / "calibration_memory.json"
    recorded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"runs": {}}
    key = f"{args.label}/{args.data}"
    earlier = recorded["runs"].get(key, {}).get("points", [])
    new = {(p["method"], p["samples"]) for p in points}  # a re-measured point replaces the old one
    merged = sorted([p for p in earlier if (p["method"], p["samples"]) not in new] + points,
                    key=lambda p: (p["method"], p["samples"]))
    command = (f"python benchmarks/calibration_memory.py --model {args.model} --samples "
               f"{' '.join(str(n) for n in sorted({p['samples'] for p in merged}))} --methods "
               f"{' '.join(sorted({p['method'] for p in merged}))} --data {args.data} --label {args.label}")
    if args.label == "before":
        command += " (from a checkout of the code before, with this script copied in and --results-dir pointing here)"
    recorded["runs"][key] = {
        "label": args.label, "model": args.model, "input_size": args.size, "batch_size": args.batch_size,
        "data": args.data, "points": merged, "environment": env, "command": command,
        "isa": {"name": isa.name, "flags": list(isa.flags)}, "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    recorded.update({"benchmark": "calibration_memory",
                     "note": "peak RSS = ru_maxrss of a fresh process (imports + data + calibration); "
                             "time = the calibration only; the machine was shared (2 cores) unless stated"})
    write_json(path, recorded)
    write_markdown(out_dir / "calibration_memory.md", recorded)
    print((out_dir / "calibration_memory.md").read_text(encoding="utf-8"))
    return 0


def write_markdown(path: Path, recorded: dict[str, Any]) -> None:
    from resnet_deploy.render import Column, markdown_table

    lines = ["# INT8 calibration: peak resident memory and time", "",
             "Each point in a fresh process; peak RSS includes the imports and the calibration data. "
             "Bar (issue 13): resnet50, 512 samples under 2.5 GB, time within +20% of before. "
             "`before`: the code before the memory-bounded calibration (onnxruntime's calibrator handed all "
             "batches of batch_size 32), run from that commit's checkout with this script; `after`: this "
             "checkout (batches sized to a 768 MiB budget: 7 images for resnet50 at 224). Equal ranges "
             "digests: equal ranges, bit for bit. The machine was shared (2 cores): compare before and "
             "after at the same sample count, measured minutes apart.", ""]
    for key, run in sorted(recorded["runs"].items()):
        cpu = run["environment"].get("cpu", {})
        lines += [f"## {key}: {run['model']} {run['input_size']}x{run['input_size']}, batch_size {run['batch_size']}", "",
                  f"Machine: {cpu.get('model')}, {cpu.get('affinity') or cpu.get('logical_cores')} cores, ISA "
                  f"{run['isa']['name']}; recorded {run['created']}. Command: `{run['command']}`", ""]
        columns = [Column("method"), Column("samples", "d"), Column("images per batch", "d"), Column("peak RSS MB", ",.0f"),
                   Column("before calibration MB", ",.0f"), Column("calibration s", ".1f"), Column("ranges digest")]
        rows = [[p["method"], p["samples"], p.get("batch"), p["peak_rss_mb"], p["peak_rss_before_calibration_mb"],
                 p["calibration_seconds"], p["ranges_digest"]] for p in run["points"]]
        lines += [markdown_table(columns, rows), ""]
    path.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
