"""Shared by the benchmark scripts: the models' ONNX artifacts, where results go, how they are saved."""

from __future__ import annotations

import json
import logging
import os
import resource
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resnet_deploy.bench import report as rep
from resnet_deploy.bench.telemetry import capture_environment, device_slug

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
log = logging.getLogger("benchmarks")


def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def results_dir(base: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """benchmarks/results/<device>/ (cpu-<N>core, or the GPU's name) and the environment, as
    the JSON a result records."""
    env = capture_environment()
    out = (base or RESULTS) / device_slug(env, cuda_available())
    out.mkdir(parents=True, exist_ok=True)
    return out, env.to_dict()


def machine(env: Mapping[str, Any]) -> str:
    """The machine on one line (CPU, GPUs, runtime versions) from results_dir()'s environment:
    what a result's "machine" field holds."""
    return rep.machine_line({"environment": env})


def machine_header(data: Mapping[str, Any]) -> str:
    """`Machine: <machine>; CPU ISA <label>`: how the CPU precision benchmarks' Markdown
    (bf16_speed, precision_accuracy) begins its header line, from the "machine" and "isa"
    their results record."""
    return f"Machine: {data['machine']}; CPU ISA {data['isa']['label']}"


def export_model(name: str, work: Path, size: int = 224) -> Path:
    """An untrained `name` exported to ONNX (weights do not change the timing), reused if present."""
    from resnet_deploy.export import export_onnx

    path = work / f"{name}_{size}.onnx"
    if not path.exists():
        log.info("exporting %s at %dx%d", name, size, size)
        export_onnx(path, model=name, input_size=size)
    return path


def random_calibration(work: Path, size: int, samples: int) -> Path:
    """Random normalised images for INT8 calibration: enough for timing, meaningless for accuracy."""
    path = work / f"calib_random_{size}_{samples}.npy"
    if not path.exists():
        np.save(path, np.random.default_rng(0).standard_normal((samples, 3, size, size), dtype=np.float32))
    return path


def save_result(data: dict[str, Any], out_dir: Path, stem: str, title: str, plots: bool = True) -> None:
    rep.save(data, json_path=out_dir / f"{stem}.json", csv_path=out_dir / f"{stem}.csv")
    (out_dir / f"{stem}.md").write_text(rep.render_markdown(data, title=title), encoding="utf-8")
    if plots:
        rep.save(data, plot_dir=out_dir, plot_prefix=f"{stem}_", plot_title=title)
    log.info("wrote %s/%s.{json,csv,md}", out_dir, stem)


def write_json(path: Path, data: Any) -> None:
    """The project's JSON writer (jsonfile.dumps_json), written atomically."""
    from resnet_deploy.atomic import write_json as write_atomically

    write_atomically(path, data)


@dataclass(frozen=True)
class TimedRun:
    """One `resnet-deploy COMMAND ... --json` subprocess, as a user types it: its JSON report,
    wall time, the CPU time of the child (a shared machine shows as CPU time well under wall
    time x threads) and the 1-minute load average before and after."""

    report: dict[str, Any]
    wall: float
    cpu_seconds: float
    load_before: float
    load_after: float

    def load_record(self) -> dict[str, float]:
        return load_record(self.load_before, self.load_after)


def load_record(before: float, after: float) -> dict[str, float]:
    """The 1-minute load average before and after a measurement, as results record it
    ("load_average_1min"): above the core count, other jobs shared the CPU."""
    return {"before": round(before, 2), "after": round(after, 2)}


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_command(command: str, args: list[str]) -> TimedRun | int:
    """Run `python -m resnet_deploy COMMAND ARGS` (ARGS must include --json) and time it; on a
    failure print the end of its stderr and return its exit code."""
    cmd = [sys.executable, "-m", "resnet_deploy", command, *args]
    load_before, cpu_before = os.getloadavg()[0], _children_cpu_seconds()
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    load_after = os.getloadavg()[0]
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return proc.returncode
    return TimedRun(json.loads(proc.stdout), wall, _children_cpu_seconds() - cpu_before, load_before, load_after)


def run_train(args: list[str]) -> TimedRun | int:
    """`resnet-deploy train ARGS --json`, timed (run_command)."""
    return run_command("train", args)

