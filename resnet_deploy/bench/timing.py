"""The measured loops: wall clock around `infer` on CPUs, CUDA events on the runner's stream on GPUs.

CPU: `time.perf_counter_ns()` right around each `runner.infer(feeds)`, nothing else inside
the timed region, warm-up done before the loop starts.

GPU (runners with DeviceTimingHooks): inputs are staged once; each iteration records events
around `enqueue_h2d`, `enqueue_compute` (or a captured CUDA graph) and `enqueue_d2h` and does
not wait; the next iteration is enqueued while the previous one runs (two iterations in flight
per stream, as trtexec does), so the GPU never idles on Python. The host only waits for an
iteration's last event when its slot is reused. Latency is the GPU time from the start of the
H2D copy to the end of the D2H copy; throughput is images over the wall time of the loop;
enqueue time is the host time the enqueue calls took.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from resnet_deploy.backends.base import DeviceTimingHooks, Runner
from resnet_deploy.bench.config import Warmup


@dataclass
class Measurement:
    """Raw per-iteration times of one batch size (milliseconds) and the loop's wall time."""

    latency_ms: list[float]
    wall_s: float
    timer: str  # "perf_counter_ns" or "cuda-events (<api>)"
    enqueue_ms: list[float] = field(default_factory=list)
    h2d_ms: list[float] = field(default_factory=list)
    compute_ms: list[float] = field(default_factory=list)
    d2h_ms: list[float] = field(default_factory=list)
    streams: int = 1

    @property
    def iterations(self) -> int:
        return len(self.latency_ms)


def _keep_going(count: int, started_ns: int, iterations: int | None, duration_s: float | None,
                min_iterations: int) -> bool:
    elapsed = (time.perf_counter_ns() - started_ns) / 1e9
    if iterations is not None and duration_s is not None:
        return count < iterations or elapsed < duration_s
    if iterations is not None:
        return count < iterations
    if duration_s is not None:
        return count < min_iterations or elapsed < duration_s
    return count < min_iterations


def run_warmup(step: Callable[[], Any], warmup: Warmup) -> int:
    """Call `step` for the warm-up's iterations or seconds (at least once when seconds > 0)."""
    if warmup.iterations is not None:
        for _ in range(warmup.iterations):
            step()
        return warmup.iterations
    seconds = warmup.seconds or 0.0
    count = 0
    started = time.perf_counter_ns()
    while seconds > 0 and (count == 0 or (time.perf_counter_ns() - started) / 1e9 < seconds):
        step()
        count += 1
    return count


def measure_cpu(runner: Runner, feeds: Mapping[str, np.ndarray], *, warmup: Warmup,
                iterations: int | None, duration_s: float | None, min_iterations: int = 10) -> Measurement:
    """perf_counter_ns around each synchronous `infer`; warm-up outside the measured loop."""
    infer = runner.infer
    run_warmup(lambda: infer(feeds), warmup)
    latencies: list[float] = []
    clock = time.perf_counter_ns
    loop_start = clock()
    while _keep_going(len(latencies), loop_start, iterations, duration_s, min_iterations):
        start = clock()
        infer(feeds)
        latencies.append((clock() - start) / 1e6)
    wall = (clock() - loop_start) / 1e9
    return Measurement(latency_ms=latencies, wall_s=wall, timer="perf_counter_ns")


@dataclass
class _Slot:
    start: Any
    h2d: Any
    compute: Any
    end: Any
    enqueue_ms: float = 0.0
    pending: bool = False


def measure_gpu(runners: Sequence[DeviceTimingHooks], feeds: Mapping[str, np.ndarray], *, warmup: Warmup,
                iterations: int | None, duration_s: float | None, min_iterations: int = 10,
                no_data_transfers: bool = False, cuda_graph: bool = False, events: Any = None,
                in_flight: int = 2) -> Measurement:
    """CUDA events on each runner's stream; `runners` are the concurrent contexts (--streams).

    `iterations` counts iterations per stream.
    """
    from resnet_deploy.bench.cuda_events import cuda_event_api

    api = events if events is not None else cuda_event_api()
    transfers = not no_data_transfers
    for hooks in runners:
        hooks.stage(feeds, device_resident=no_data_transfers)
    graphs: list[Any] = []
    if cuda_graph:
        for hooks in runners:
            graphs.append(api.graph_capture(hooks.stream, hooks.enqueue_compute))
    slots = [[_Slot(api.create(), api.create(), api.create(), api.create()) for _ in range(in_flight)]
             for _ in runners]
    result = Measurement(latency_ms=[], wall_s=0.0, timer=f"cuda-events ({api.name})", streams=len(runners))

    def enqueue(index: int, slot: _Slot) -> None:
        hooks, stream = runners[index], runners[index].stream
        t0 = time.perf_counter_ns()
        api.record(slot.start, stream)
        if transfers:
            hooks.enqueue_h2d()
        api.record(slot.h2d, stream)
        if graphs:
            api.graph_launch(graphs[index], stream)
        else:
            hooks.enqueue_compute()
        api.record(slot.compute, stream)
        if transfers:
            hooks.enqueue_d2h()
        api.record(slot.end, stream)
        slot.enqueue_ms = (time.perf_counter_ns() - t0) / 1e6
        slot.pending = True

    def collect(slot: _Slot, keep: bool) -> None:
        api.synchronize(slot.end)
        slot.pending = False
        if keep:
            result.latency_ms.append(api.elapsed_ms(slot.start, slot.end))
            result.h2d_ms.append(api.elapsed_ms(slot.start, slot.h2d))
            result.compute_ms.append(api.elapsed_ms(slot.h2d, slot.compute))
            result.d2h_ms.append(api.elapsed_ms(slot.compute, slot.end))
            result.enqueue_ms.append(slot.enqueue_ms)

    def loop(keep_going: Callable[[int], bool], keep: bool) -> int:
        count = 0
        while keep_going(count):
            for index in range(len(runners)):
                slot = slots[index][count % in_flight]
                if slot.pending:
                    collect(slot, keep)
                enqueue(index, slot)
            count += 1
        for per_stream in slots:  # drain the oldest slot first, so samples stay in order
            for offset in range(in_flight):
                slot = per_stream[(count + offset) % in_flight]
                if slot.pending:
                    collect(slot, keep)
        return count

    try:
        if warmup.iterations is not None:
            loop(lambda n: n < (warmup.iterations or 0), keep=False)
        else:
            started = time.perf_counter_ns()
            seconds = warmup.seconds or 0.0
            loop(lambda n: seconds > 0 and (n == 0 or (time.perf_counter_ns() - started) / 1e9 < seconds), keep=False)
        for hooks in runners:
            hooks.synchronize()
        loop_start = time.perf_counter_ns()
        loop(lambda n: _keep_going(n, loop_start, iterations, duration_s, min_iterations), keep=True)
        for hooks in runners:
            hooks.synchronize()
        result.wall_s = (time.perf_counter_ns() - loop_start) / 1e9
    finally:
        for per_stream in slots:
            for slot in per_stream:
                for event in (slot.start, slot.h2d, slot.compute, slot.end):
                    api.destroy(event)
        for graph in graphs:
            api.graph_destroy(graph)
    return result
