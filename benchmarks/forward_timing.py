#!/usr/bin/env python
"""The seed article's forward-timing view: mean ± sd of one forward pass over 100 steps after
10 burn-in steps, per model and backend.

    python benchmarks/forward_timing.py                       # resnet18/50/101, batch 1
    python benchmarks/forward_timing.py --quick               # resnet18 and resnet50, 30 steps

Writes forward_timing.json and forward_timing.md under benchmarks/results/<device>/. The
sd is the sample standard deviation (n - 1), as the article reports it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.suite_common import cuda_available, export_model, log, results_dir, write_json
from resnet_deploy.backends.registry import RunOptions, available_backends, get_backend
from resnet_deploy.bench import BackendSpec
from resnet_deploy.bench.config import Warmup
from resnet_deploy.bench.harness import image_input, make_feeds
from resnet_deploy.bench.report import machine_line
from resnet_deploy.bench.runners import open_runner
from resnet_deploy.bench.stats import mean_sd
from resnet_deploy.bench.timing import measure_cpu
from resnet_deploy.errors import ResnetDeployError
from resnet_deploy.render import Column, markdown_table


def time_forward(spec: BackendSpec, batch: int, steps: int, burn_in: int, threads: int | None) -> dict[str, Any]:
    with open_runner(spec, threads=threads) as runner:
        feeds = make_feeds(image_input(runner, None), batch)
        m = measure_cpu(runner, feeds, warmup=Warmup(iterations=burn_in), iterations=steps, duration_s=None)
    mean, sd = mean_sd(m.latency_ms)
    return {"backend": spec.backend, "label": spec.name, "batch": batch, "steps": steps, "burn_in": burn_in,
            "mean_ms": mean, "sd_ms": sd, "samples_ms": m.latency_ms}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet18,resnet50,resnet101")
    parser.add_argument("--backends", default="torch,ort-cpu,openvino")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--burn-in", type=int, default=10)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--quick", action="store_true", help="resnet18 and resnet50, 30 steps after 5 burn-in")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.quick:
        args.models, args.steps, args.burn_in = "resnet18,resnet50", 30, 5
    out, env = results_dir(args.out)
    status = available_backends(tuple(args.backends.split(",")))
    rows: list[dict[str, Any]] = []
    notes = [f"{b}: {why}" for b, why in status.items() if why]
    device = "cuda" if cuda_available() else "cpu"
    with tempfile.TemporaryDirectory(prefix="rd-forward-") as tmp:
        for model in args.models.split(","):
            onnx_path = export_model(model, Path(tmp))
            for backend, why in status.items():
                if why:
                    continue
                spec = (BackendSpec(backend, model=model, options=RunOptions(device=device))
                        if get_backend(backend).artifact == "checkpoint" else BackendSpec(backend, artifact=onnx_path))
                log.info("%s on %s: %d steps after %d burn-in", model, backend, args.steps, args.burn_in)
                try:
                    row = time_forward(spec, args.batch, args.steps, args.burn_in, args.threads)
                except ResnetDeployError as exc:
                    notes.append(f"{model} {backend}: {exc}")
                    continue
                rows.append({"model": model, **row})
    data = {"kind": "forward-timing", "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "environment": env, "rows": rows, "notes": notes}
    write_json(out / "forward_timing.json", data)
    table = markdown_table([Column("model"), Column("backend"), Column("batch", "d"), Column("forward ms (mean ± sd)", align="right"),
                            Column("steps")],
                           [[r["model"], r["backend"], r["batch"], f"{r['mean_ms']:.2f} ± {r['sd_ms']:.2f}",
                             f"{r['steps']} after {r['burn_in']}"] for r in rows])
    md = [f"## Forward timing (mean ± sd over {args.steps} steps after {args.burn_in} burn-in)", "",
          f"Machine: {machine_line(data)}", "", table, ""] + [f"- {n}" for n in notes]
    (out / "forward_timing.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
