"""The cost of serving: the same runner called in-process vs behind a real Triton server.

    python benchmarks/serve_load.py [--models resnet20,resnet50] [--concurrency 1,2,4,8,16]
                                    [--duration 5] [--threads 2] [--max-queue-delay-us 0]

For each model (untrained ONNX export; resnet20 at 32x32, resnet50 at 224x224) and each
concurrency c, three modes run for `--duration` seconds each, interleaved so that background
load hits all alike:
  in-process  c threads call one OnnxRuntimeRunner (ort-cpu, `--threads`) with batch 1;
  http, grpc  c threads, each with its own tritonclient client, send batch-1 requests to
              `resnet-deploy serve`'s Triton server (the same runner and threads in Triton's
              Python backend, one instance, dynamic batching).
Each point's time is split into `--rounds` rounds with the modes interleaved. Latency is per request (client side, perf_counter_ns around the call, so it includes the
client's serialisation); throughput is requests/s over the measured time. The ratios
served/in-process at the same concurrency are the figures that count: on a 2-core machine
the clients, the server and the runtime share the cores, as they would on one small host.
Writes benchmarks/results/<device>/serve_load.{json,md}.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.suite_common import export_model, results_dir, write_json
from resnet_deploy.bench.stats import summarize
from resnet_deploy.render import Column, markdown_table

log = logging.getLogger("benchmarks.serve_load")

SIZES = {"resnet20": 32, "resnet50": 224}
PERCENTILES = (50.0, 90.0, 99.0)


def cpu_isa() -> str:
    """The widest x86 vector/matrix extensions this CPU has (what ONNX Runtime can use)."""
    from resnet_deploy.environment import isa_flags

    return " ".join(isa_flags() or []) or "unknown"


def run_clients(concurrency: int, duration_s: float, make_call: Callable[[], Callable[[], Any]]) -> dict[str, Any]:
    """`concurrency` threads, each calling its own `make_call()` until `duration_s` has passed;
    returns the per-request latencies (ms), the measured wall time and the first errors."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[str] = []
    warmed, go = threading.Barrier(concurrency + 1), threading.Barrier(concurrency + 1)
    stop_at = [0.0]

    def worker(index: int) -> None:
        call = make_call()
        call()  # connect and warm this client outside the measured part
        warmed.wait()
        go.wait()
        mine = latencies[index]
        while time.perf_counter() < stop_at[0]:
            began = time.perf_counter_ns()
            try:
                call()
            except Exception as exc:  # recorded, so a failing mode shows up in the results
                errors.append(f"{type(exc).__name__}: {exc}")
                return
            mine.append((time.perf_counter_ns() - began) / 1e6)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    warmed.wait(timeout=300)
    started = time.perf_counter()
    stop_at[0] = started + duration_s  # set before the workers are released
    go.wait()
    for thread in threads:
        thread.join(timeout=duration_s + 120)
    wall = time.perf_counter() - started
    return {"latencies_ms": [v for per_thread in latencies for v in per_thread], "wall_s": wall, "errors": errors[:3]}


def summarize_runs(concurrency: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from the rounds of one (mode, concurrency) point."""
    flat = [v for run in runs for v in run["latencies_ms"]]
    wall = sum(run["wall_s"] for run in runs)
    row: dict[str, Any] = {"concurrency": concurrency, "requests": len(flat), "measured_s": wall, "rounds": len(runs),
                           "throughput_rps": len(flat) / wall if wall > 0 else 0.0,
                           "errors": [e for run in runs for e in run["errors"]][:3]}
    if flat:
        stats = summarize(flat, PERCENTILES).to_dict()
        row["latency_ms"] = {k: stats[k] for k in ("mean", "p50", "p90", "p99", "max")}
    return row


def _http_call(url: str, model: str, x: np.ndarray) -> Callable[[], Callable[[], Any]]:
    import tritonclient.http as http

    def make() -> Callable[[], Any]:
        client = http.InferenceServerClient(url)
        tensor = http.InferInput("input", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        return lambda: client.infer(model, [tensor]).as_numpy("logits")
    return make


def _grpc_call(url: str, model: str, x: np.ndarray) -> Callable[[], Callable[[], Any]]:
    import tritonclient.grpc as grpc

    def make() -> Callable[[], Any]:
        client = grpc.InferenceServerClient(url)
        tensor = grpc.InferInput("input", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        return lambda: client.infer(model, [tensor]).as_numpy("logits")
    return make


def measure_model(name: str, work: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    from resnet_deploy.backends.onnxruntime_runner import OnnxRuntimeRunner
    from resnet_deploy.serving.server import ServeOptions, start_serving

    size = SIZES.get(name, 224)
    onnx_path = export_model(name, work, size)
    x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
    rows: list[dict[str, Any]] = []
    options = ServeOptions(http_port=0, grpc_port=0, metrics_port=0, threads=args.threads,
                           max_queue_delay_us=args.max_queue_delay_us)
    with OnnxRuntimeRunner(onnx_path, threads=args.threads) as runner, start_serving(onnx_path, options) as server:
        expected = runner.infer({"input": x})["logits"]
        served = _grpc_call(server.grpc_url, server.model_name, x)()()
        np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-5)  # same answer before we time anything
        modes: dict[str, Callable[[], Callable[[], Any]]] = {
            "in-process": lambda: (lambda: runner.infer({"input": x})),
            "http": _http_call(server.http_url, server.model_name, x),
            "grpc": _grpc_call(server.grpc_url, server.model_name, x),
        }
        for concurrency in args.concurrency:
            log.info("%s: concurrency %d, %s, %d rounds of %.1f s each", name, concurrency, ", ".join(args.modes),
                     args.rounds, args.duration / args.rounds)
            runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in args.modes}
            for _ in range(args.rounds):  # modes interleaved, so a burst of background load hits all alike
                for mode in args.modes:
                    runs[mode].append(run_clients(concurrency, args.duration / args.rounds, modes[mode]))
            for mode in args.modes:
                row = summarize_runs(concurrency, runs[mode])
                row.update({"model": name, "input": f"{size}x{size}", "mode": mode, "load_avg_1m": os.getloadavg()[0]})
                rows.append(row)
    for row in rows:
        base = next(r for r in rows if r["model"] == name and r["mode"] == "in-process"
                    and r["concurrency"] == row["concurrency"])
        row["throughput_vs_in_process"] = row["throughput_rps"] / base["throughput_rps"] if base["throughput_rps"] else None
        lat, base_lat = row.get("latency_ms", {}), base.get("latency_ms", {})
        row["p50_vs_in_process"] = lat["p50"] / base_lat["p50"] if lat and base_lat else None
        row["p50_added_ms"] = lat["p50"] - base_lat["p50"] if lat and base_lat else None
    return rows


def markdown(data: dict[str, Any]) -> str:
    env = data["environment"]
    cpu = env.get("cpu", {})
    libs = env.get("library_versions", {})
    lines = ["# Serving cost: Triton (`resnet-deploy serve`) vs the same runner in-process", "",
             f"Machine: {cpu.get('model')}, {cpu.get('logical_cores')} logical cores, ISA {data['cpu_isa']}; "
             f"onnxruntime {libs.get('onnxruntime')}, Triton Inference Server {data['triton_server']} "
             f"(nvidia-pytriton {data['pytriton']}), tritonclient {data['tritonclient']}. "
             f"Runner ort-cpu, {data['threads']} threads, 1 instance, dynamic batching with a "
             f"{data['max_queue_delay_us']} us queue delay; batch-1 requests, {data['duration_s']:g} s per point in "
             f"{data['rounds']} rounds with the modes interleaved. Load average (1 min) during the run: "
             f"{data['load_avg_1m']}. "
             f"{data['note']}", "", f"Command: `{data['command']}`", ""]
    columns = [Column("model"), Column("mode"), Column("clients", "d"), Column("req/s", ".1f"), Column("p50 ms", ".2f"),
               Column("p90 ms", ".2f"), Column("p99 ms", ".2f"), Column("req/s vs in-process", ".2f"),
               Column("p50 vs in-process", ".2f"), Column("p50 added ms", "+.2f"), Column("errors", "d")]
    body = [[r["model"], r["mode"], r["concurrency"], r["throughput_rps"], r.get("latency_ms", {}).get("p50"),
             r.get("latency_ms", {}).get("p90"), r.get("latency_ms", {}).get("p99"), r["throughput_vs_in_process"],
             r["p50_vs_in_process"], r.get("p50_added_ms"), len(r["errors"])] for r in data["rows"]]
    lines.append(markdown_table(columns, body))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet20,resnet50")
    parser.add_argument("--concurrency", default="1,2,4,8,16")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per (model, mode, concurrency) point")
    parser.add_argument("--rounds", type=int, default=3, help="each point's time is split into rounds, modes interleaved")
    parser.add_argument("--threads", type=int, default=2, help="runtime threads, in-process and in the server alike")
    parser.add_argument("--max-queue-delay-us", type=int, default=0)
    parser.add_argument("--modes", default="in-process,http,grpc")
    parser.add_argument("--note", default="", help="a remark recorded with the results (e.g. that the machine was shared)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the exported models (default: temporary)")
    args = parser.parse_args(argv)
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.modes = [m.strip() for m in args.modes.split(",")]
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from resnet_deploy.serving.runtime import PYTRITON_VERSION

    out_dir, env = results_dir()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="serve_load.") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            rows += measure_model(name, work, args)
    command = ("python benchmarks/serve_load.py" + f" --models {args.models} --concurrency "
               f"{','.join(map(str, args.concurrency))} --duration {args.duration:g} --rounds {args.rounds} --threads {args.threads}"
               f" --max-queue-delay-us {args.max_queue_delay_us}")
    data = {"kind": "serve-load", "benchmark": "serve_load", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "environment": env, "cpu_isa": cpu_isa(), "triton_server": "2.51.0", "pytriton": PYTRITON_VERSION,
            "tritonclient": metadata.version("tritonclient"), "threads": args.threads,
            "max_queue_delay_us": args.max_queue_delay_us, "duration_s": args.duration, "rounds": args.rounds,
            "load_avg_1m": f"{min(r['load_avg_1m'] for r in rows):.1f}-{max(r['load_avg_1m'] for r in rows):.1f}",
            "note": args.note,
            "command": command, "rows": rows}
    write_json(out_dir / "serve_load.json", data)
    text = markdown(data)
    (out_dir / "serve_load.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
