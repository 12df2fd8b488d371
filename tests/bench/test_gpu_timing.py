"""The GPU timing loop (trtexec's scheme) on a simulated GPU (tests/bench/gpu_sim.py), the
warnings derived from it, the outer-CUDA-graph rules, and capture failures that must not hide
the original error. What only a real GPU can show: the actual overlap of copy and compute
engines, CUDA event resolution, and the runtimes' own synchronization."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from resnet_deploy.bench import BackendSpec, BenchConfig, Warmup, run_benchmark
from resnet_deploy.bench.harness import gpu_bound_warnings
from resnet_deploy.bench.report import render_markdown, render_table
from resnet_deploy.bench.timing import Measurement, measure_gpu
from resnet_deploy.errors import InvalidInputError
from tests.bench.gpu_sim import SimEvents, SimHooks

FEEDS = {"input": np.zeros((1, 3, 4, 4), np.float32)}


def _measure(hooks: list[SimHooks], events: SimEvents, **kwargs: Any) -> Measurement:
    kwargs.setdefault("warmup", Warmup(iterations=0))
    kwargs.setdefault("iterations", 6)
    return measure_gpu(hooks, FEEDS, duration_s=None, events=events, **kwargs)


def test_separate_streams_overlap_the_next_copy_with_the_current_compute() -> None:
    events = SimEvents()
    hooks = SimHooks(events, own_stream=7)
    m = _measure([hooks], events)
    # two streams were made (input, output) and destroyed; copies never ran on the compute stream
    assert len(events.created_streams) == 2 and sorted(events.destroyed_streams) == sorted(events.created_streams)
    assert 7 not in hooks.copies_on and set(hooks.copies_on) == set(events.created_streams)
    h2d, compute, d2h = events.intervals("h2d"), events.intervals("compute"), events.intervals("d2h")
    assert len(h2d) == len(compute) == len(d2h) == 6
    for i in range(6):
        assert compute[i].start >= h2d[i].end  # compute waits for its own inputs
        assert d2h[i].start >= compute[i].end  # outputs are copied after the compute
    for i in range(5):
        assert h2d[i + 1].start < compute[i].end  # the next H2D overlaps the current compute
    # GPU time is compute-bound: 1 (first copy) + 6 x 3 + 0.5, not 6 x 4.5 as on one stream
    assert max(w.end for w in events.work) == pytest.approx(1.0 + 6 * 3.0 + 0.5)
    # trtexec's figures: latency = H2D + compute + D2H of each query
    assert m.h2d_ms == [1.0] * 6 and m.compute_ms == [3.0] * 6 and m.d2h_ms == [0.5] * 6
    assert m.latency_ms == [4.5] * 6 and m.timer == "cuda-events (sim)"
    assert hooks.staged == [False] and events.live_events == 0
    # the second iteration is enqueued before the host waits for the first
    assert events.log[:7] == ["h2d", "compute", "d2h", "h2d", "compute", "d2h", "sync"]


def test_enqueue_time_is_the_compute_enqueue_alone() -> None:
    events = SimEvents()
    m = _measure([SimHooks(events, own_stream=7, h2d_host_s=0.004)], events, iterations=4)
    assert len(m.enqueue_ms) == 4 and max(m.enqueue_ms) < 1.0  # the 4 ms spent enqueuing the H2D are not in it


def test_without_transfers_only_the_compute_stream_is_used() -> None:
    events = SimEvents()
    streams = [SimHooks(events, own_stream=1), SimHooks(events, own_stream=2)]
    m = _measure(streams, events, warmup=Warmup(iterations=2), iterations=4, no_data_transfers=True)
    assert events.created_streams == [] and "h2d" not in events.log and "d2h" not in events.log
    assert m.streams == 2 and len(m.latency_ms) == 8 and m.latency_ms == m.compute_ms == [3.0] * 8
    assert m.h2d_ms == [] and m.d2h_ms == []
    assert all(h.staged == [True] for h in streams)


def test_outer_graph_is_captured_once_per_runner_and_launched() -> None:
    events = SimEvents()
    streams = [SimHooks(events, own_stream=1), SimHooks(events, own_stream=2)]
    m = _measure(streams, events, iterations=3, cuda_graph=True)
    assert events.log.count("capture") == 2 and events.log.count("graph-destroyed") == 2
    assert "compute" not in [w.kind for w in events.work] and len(events.intervals("graph")) == 6
    assert m.compute_ms == [3.0] * 6


def test_a_runner_with_its_own_graphs_is_not_captured_again() -> None:
    events = SimEvents()
    hooks = SimHooks(events, own_stream=1)
    hooks.own_cuda_graph = True  # type: ignore[attr-defined]
    m = _measure([hooks], events, iterations=3, cuda_graph=True)
    assert "capture" not in events.log and len(events.intervals("compute")) == 3
    assert len(m.notes) == 1 and "outer capture was skipped" in m.notes[0] and "nest" in m.notes[0]


def test_a_runner_that_cannot_be_captured_is_refused_before_any_work() -> None:
    events = SimEvents()
    hooks = SimHooks(events, own_stream=1, name="ort-trt")
    hooks.outer_cuda_graph_refusal = "its EP synchronizes inside a run"  # type: ignore[attr-defined]
    with pytest.raises(InvalidInputError, match="ort-trt cannot run inside an outer CUDA graph capture") as info:
        _measure([hooks], events, cuda_graph=True)
    assert info.value.param == "cuda_graph" and events.work == [] and hooks.staged == []


@pytest.mark.parametrize("backend", ["ort-cuda", "ort-trt"])
def test_bench_refuses_outer_graphs_for_onnxruntime_up_front(backend: str, tmp_path: Path) -> None:
    def never(spec: BackendSpec, cfg: BenchConfig) -> Any:
        raise AssertionError("no runner may be opened")

    config = BenchConfig([BackendSpec("torch", model="resnet20"), BackendSpec(backend, artifact=tmp_path / "m.onnx")],
                         cuda_graph=True, iterations=1)
    with pytest.raises(InvalidInputError) as info:
        run_benchmark(config, runner_factory=never)
    option = "trt_cuda_graph_enable" if backend == "ort-trt" else "enable_cuda_graph"
    message = str(info.value)
    assert "\n" not in message and option in message and "cuda_graph=True" in message and info.value.exit_code == 2


def test_bench_cli_refusal_is_one_line_exit_2(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from resnet_deploy.cli import cli

    model = tmp_path / "m.onnx"
    model.write_bytes(b"not opened")
    result = CliRunner().invoke(cli, ["bench", "--onnx", str(model), "--backend", "ort-trt", "--cuda-graph"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "trt_cuda_graph_enable" in result.output and "Traceback" not in result.output


def test_a_declared_or_measured_serialized_runtime_is_reported() -> None:
    events = SimEvents(idle_after_enqueue=True)
    hooks = SimHooks(events, own_stream=1, name="ort-trt")
    hooks.serialized_reason = "its EP calls cudaStreamSynchronize in each run"  # type: ignore[attr-defined]
    m = _measure([hooks], events, iterations=5)
    assert m.notes == ["runs serialized, so two iterations are never in flight: its EP calls cudaStreamSynchronize "
                       "in each run"]
    assert m.idle_after_enqueue == 5
    assert any("ran serialized" in w for w in gpu_bound_warnings(m))
    overlapped = _measure([SimHooks(SimEvents(), own_stream=1)], SimEvents(), iterations=5)
    assert not any("serialized" in w for w in gpu_bound_warnings(overlapped))


def _measurement(enqueue: list[float], compute: list[float], h2d: list[float] | None = None) -> Measurement:
    return Measurement(latency_ms=compute, wall_s=1.0, timer="sim", enqueue_ms=enqueue, compute_ms=compute,
                       h2d_ms=h2d or [], d2h_ms=[0.01] * len(compute) if h2d else [])


def test_enqueue_bound_warning_compares_medians() -> None:
    spiky = _measurement([0.1] * 9 + [100.0], [1.0] * 10)  # mean enqueue 10.1 ms, median 0.1 ms
    assert not any("enqueue" in w for w in gpu_bound_warnings(spiky))
    bound = _measurement([0.9] * 9 + [0.01], [1.0] * 10)  # median 0.9 > 0.8 x 1.0
    assert any("bound by enqueue time (median 0.900 ms" in w for w in gpu_bound_warnings(bound))
    copies = _measurement([0.1] * 10, [1.0] * 10, h2d=[1.5] * 10)
    assert any("host-to-device" in w for w in gpu_bound_warnings(copies))


def _bench_data(with_transfers: bool) -> dict[str, Any]:
    lat = {"samples": 3, "min": 1.0, "mean": 1.0, "median": 1.0, "p90": 1.0, "p95": 1.0, "p99": 1.0, "max": 1.0,
           "std": 0.0, "cv": 0.0}
    row: dict[str, Any] = {"batch": 8, "iterations": 3, "measured_s": 0.003, "latency_ms": lat,
                           "throughput_ips": 8000.0, "compute_ms": lat, "enqueue_ms": lat}
    if with_transfers:
        row.update(h2d_ms=lat, d2h_ms=lat)
    return {"kind": "bench", "config": {"percentiles": [90, 95, 99]}, "environment": {},
            "backends": [{"label": "tensorrt (r50.plan)", "backend": "tensorrt", "results": [row], "notes": []}]}


def test_report_omits_copy_columns_without_data_transfers() -> None:
    for render in (render_table, render_markdown):
        with_copies, without = render(_bench_data(True)), render(_bench_data(False))
        assert "H2D ms" in with_copies and "D2H ms" in with_copies
        assert "H2D ms" not in without and "D2H ms" not in without and "compute ms" in without


# -- capture failures must not hide the error that explains them ------------------------------
def _failing_runtime() -> Any:
    ok = types.SimpleNamespace(value=0)
    invalidated = types.SimpleNamespace(value=901, name="cudaErrorStreamCaptureInvalidated")
    return types.SimpleNamespace(
        cudaStreamCaptureMode=types.SimpleNamespace(cudaStreamCaptureModeThreadLocal=0),
        cudaStreamBeginCapture=lambda stream, mode: (ok,),
        cudaStreamEndCapture=lambda stream: (invalidated, None),
        cudaGraphDestroy=lambda graph: (ok,),
    )


def _enqueue_that_fails() -> None:
    raise ValueError("operation not permitted when stream is capturing (the real cause)")


def test_cuda_python_capture_keeps_the_original_error() -> None:
    from resnet_deploy.runtime.cuda_events import CudartEvents

    with pytest.raises(ValueError, match="the real cause"):
        CudartEvents(_failing_runtime()).graph_capture(5, _enqueue_that_fails)


def test_cuda_util_graph_keeps_the_original_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from resnet_deploy.runtime import cuda as cuda_util

    monkeypatch.setattr(cuda_util, "cudart", _failing_runtime)
    stream = types.SimpleNamespace(raw=5)
    with pytest.raises(ValueError, match="the real cause"):
        cuda_util.CudaGraph(stream, _enqueue_that_fails)  # type: ignore[arg-type]


def test_torch_capture_keeps_the_original_error() -> None:
    from resnet_deploy.runtime.cuda_events import capture_graph

    class FailingCapture:  # torch.cuda.graph whose capture_end raises after a failed capture
        def __init__(self, graph: Any, stream: Any) -> None:
            pass

        def __enter__(self) -> None:
            return None

        def __exit__(self, *exc: object) -> None:
            raise RuntimeError("CUDA error: operation failed due to a previous error during capture")

    torch = types.SimpleNamespace(cuda=types.SimpleNamespace(graph=FailingCapture))
    with pytest.raises(ValueError, match="the real cause"):
        capture_graph(torch, object(), object(), _enqueue_that_fails)
    with pytest.raises(RuntimeError, match="previous error"):  # a failure of the capture alone still shows
        capture_graph(torch, object(), object(), lambda: None)
