"""The C++ OpenVINO service example against the Python OpenVINO runner: same model, same inputs.

    python benchmarks/cpp_openvino.py [--model resnet50] [--size 224] [--images 64] [--batch 8]

Builds examples/cpp (scripts/build_cpp_example.sh, against this interpreter's openvino wheel),
exports an untrained model (speed does not depend on the weights) and its INT8 CPU-layout model
(random calibration), then for each model and each mode (1 thread with the LATENCY hint, the
Python runner's default; 2 threads with the THROUGHPUT hint) runs the same batches through
`resnet_infer_openvino --npy` and through `OpenVinoRunner` called from as many Python threads
(ThreadPoolExecutor). Both time the same way: one untimed warm-up batch per thread, then
perf_counter/steady_clock around the whole pass (images/s) and around each batch; `--rounds`
rounds, C++ and Python interleaved so background load hits both alike, median round reported.
The C++ process's model load and compile time is printed by it and reported apart.
Also records the largest |C++ logits - Python logits| / RMS (expected 0: same runtime, same
settings). Writes benchmarks/results/<device>/cpp_openvino.{json,md}.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.suite_common import export_model, random_calibration, results_dir, write_json  # noqa: E402
from resnet_deploy import cpu_isa  # noqa: E402

log = logging.getLogger("benchmarks.cpp_openvino")
MODES = (("latency", 1), ("throughput", 2))
TIMING = re.compile(r"timing: load ([\d.]+) ms; .* wall ([\d.]+) ms, ([\d.]+) images/s; per batch ms: min [\d.]+ median ([\d.]+)")


def build(work: Path) -> Path:
    env = {**os.environ, "BUILD_DIR": str(work / "build"), "PYTHON": sys.executable}
    result = subprocess.run(["bash", str(ROOT / "scripts" / "build_cpp_example.sh")], env=env, capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"build failed: {result.stderr.strip()[-500:]}")
    return work / "build" / "resnet_infer_openvino"


def run_cpp(binary: Path, model: Path, npy: Path, out: Path, batch: int, hint: str, threads: int) -> dict[str, float]:
    result = subprocess.run([str(binary), str(model), "--npy", str(npy), "--out", str(out), "--batch", str(batch),
                             "--threads", str(threads), "--hint", hint, "--quiet"], capture_output=True, text=True,
                            check=False, timeout=600)
    if result.returncode != 0:
        raise SystemExit(f"resnet_infer_openvino failed: {result.stderr.strip()}")
    match = TIMING.search(result.stdout)
    if match is None:
        raise SystemExit(f"no timing line in: {result.stdout}")
    load_ms, _, images_s, median_ms = (float(v) for v in match.groups())
    return {"images_s": images_s, "batch_ms_median": median_ms, "load_ms": load_ms}


def run_python(model: Path, x: np.ndarray, batch: int, hint: str, threads: int) -> tuple[dict[str, float], np.ndarray]:
    from resnet_deploy.backends.openvino_runner import OpenVinoRunner

    starts = list(range(0, len(x), batch))
    logits: list[np.ndarray | None] = [None] * len(starts)
    batch_ms: list[float] = []
    t0 = time.perf_counter()
    with OpenVinoRunner(model, hint=hint) as runner:
        load_ms = (time.perf_counter() - t0) * 1e3
        name = runner.inputs()[0].name

        def one(index: int) -> None:
            begin = time.perf_counter()
            logits[index] = runner.infer({name: x[starts[index]:starts[index] + batch]})["logits"]
            batch_ms.append((time.perf_counter() - begin) * 1e3)

        with ThreadPoolExecutor(threads) as pool:
            for future in [pool.submit(runner.infer, {name: x[:batch]}) for _ in range(threads)]:  # warm-up
                future.result()
            begin = time.perf_counter()
            for future in [pool.submit(one, i) for i in range(len(starts))]:
                future.result()
            wall = time.perf_counter() - begin
    stacked = np.concatenate([v for v in logits if v is not None])
    return {"images_s": len(x) / wall, "batch_ms_median": statistics.median(batch_ms), "load_ms": load_ms}, stacked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calib-samples", type=int, default=32)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from resnet_deploy.precision import quantize_int8

    out_dir, env = results_dir()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cppov.") as tmp:
        work = Path(tmp)
        binary = build(work)
        fp32 = export_model(args.model, work, args.size)
        calib = random_calibration(work, args.size, args.calib_samples)
        int8 = quantize_int8(fp32, work / f"{fp32.stem}.int8-cpu.onnx", calib=str(calib), samples=args.calib_samples,
                             target="cpu").output
        x = np.random.default_rng(0).standard_normal((args.images, 3, args.size, args.size), dtype=np.float32)
        npy = work / "x.npy"
        np.save(npy, x)
        for variant, model in (("fp32", fp32), ("int8-cpu", int8)):
            for hint, threads in MODES:
                log.info("%s, %s hint, %d thread(s)", variant, hint, threads)
                cpp_rounds, py_rounds, deviation = [], [], 0.0
                for _ in range(args.rounds):
                    cpp_rounds.append(run_cpp(binary, model, npy, work / "logits.npy", args.batch, hint, threads))
                    timing, py_logits = run_python(model, x, args.batch, hint, threads)
                    py_rounds.append(timing)
                    ours = np.load(work / "logits.npy")
                    rms = float(np.sqrt(np.mean(py_logits.astype(np.float64) ** 2)))
                    deviation = max(deviation, float(np.abs(ours - py_logits).max()) / rms)
                for impl, rounds in (("C++", cpp_rounds), ("Python", py_rounds)):
                    rows.append({"variant": variant, "hint": hint, "threads": threads, "implementation": impl,
                                 "images_s": statistics.median(r["images_s"] for r in rounds),
                                 "images_s_rounds": [r["images_s"] for r in rounds],
                                 "batch_ms_median": statistics.median(r["batch_ms_median"] for r in rounds),
                                 "load_ms_median": statistics.median(r["load_ms"] for r in rounds),
                                 "max_dev_vs_python_over_rms": deviation})
    for row in rows:
        python = next(r for r in rows if r["implementation"] == "Python" and r["variant"] == row["variant"]
                      and r["hint"] == row["hint"])
        row["x_python"] = row["images_s"] / python["images_s"]
    isa = cpu_isa.detect_isa()
    command = (f"python benchmarks/cpp_openvino.py --model {args.model} --size {args.size} --images {args.images} "
               f"--batch {args.batch} --rounds {args.rounds}")
    data = {"benchmark": "cpp_openvino", "model": args.model, "input_size": args.size, "images": args.images,
            "batch": args.batch, "rounds": args.rounds, "weights": "untrained",
            "isa": {"name": isa.name, "vnni": isa.vnni, "flags": list(isa.flags)}, "environment": env,
            "results": rows, "command": command}
    write_json(out_dir / "cpp_openvino.json", data)
    from resnet_deploy.render import Column, markdown_table

    table = markdown_table(
        [Column("model"), Column("hint"), Column("threads"), Column("program"), Column("img/s", ".1f"),
         Column("x Python", ".2f"), Column("median ms/batch", ".1f"), Column("load + compile ms", ".0f"),
         Column("max |C++ - Python| / RMS", ".1e")],
        [[r["variant"], r["hint"], r["threads"], r["implementation"], r["images_s"], r["x_python"], r["batch_ms_median"],
          r["load_ms_median"], r["max_dev_vs_python_over_rms"]] for r in rows])
    cpu = env.get("cpu", {}) if isinstance(env.get("cpu"), dict) else {}
    libs = env.get("library_versions", {})
    lines = [f"# C++ OpenVINO example vs the Python OpenVINO runner: {args.model} {args.size}x{args.size}, "
             f"{args.images} images in batches of {args.batch}", "",
             f"Machine: {cpu.get('model')}, {cpu.get('logical_cores')} logical cores, ISA {isa.name}; openvino "
             f"{libs.get('openvino')}. Shared with other jobs while it ran: compare within a row pair, not across runs. "
             f"Command: `{command}`", "", table, "",
             "Same batches, same settings (inference precision f32); images/s over the timed pass after one warm-up "
             "batch per thread, median of the rounds. Load + compile: the C++ program's read_model + compile_model; "
             "the Python runner's activation (which also loads the ONNX file with the onnx package to check it)."]
    (out_dir / "cpp_openvino.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
