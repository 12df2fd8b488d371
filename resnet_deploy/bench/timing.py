"""The measured loops: wall clock around `infer` on CPUs, CUDA events on the runner's streams on GPUs.

CPU: `time.perf_counter_ns()` right around each `runner.infer(feeds)`, nothing else inside
the timed region, warm-up done before the loop starts.

GPU (runners with DeviceTimingHooks), trtexec's scheme (samples/common/sampleInference.cpp):
- inputs are staged once per batch size; each runner (one per concurrent context) gets three
  streams: its own compute stream, plus an input and an output stream made here;
- an iteration records events around the H2D copy on the input stream, makes the compute
  stream wait for the copy's end event, records events around the compute enqueue on the
  compute stream, makes the output stream wait for the compute's end event and records
  events around the D2H copy there. Nothing waits on the host, so the next iteration's H2D
  overlaps the current compute, and its compute overlaps the current D2H;
- two iterations are in flight per runner (trtexec's default overlap); the host waits for an
  iteration's last event only when its event set is reused. As in trtexec, the in-flight
  iterations share the runner's buffers: the inputs are the same every iteration, so the
  overlap changes the timing, not the work;
- reported as trtexec reports them: H2D, compute and D2H times from their events; latency =
  H2D + compute + D2H ("the latency to infer a single query"); enqueue time = the host time
  of the compute enqueue alone; throughput = images over the wall time of the measured loop.
  Without data transfers only the compute stream is used and latency is the compute time.

CUDA graphs (`cuda_graph`): `enqueue_compute` is captured once on the compute stream (after
the runner's own warm-up in `stage`) and the graph is launched instead. A runner that
replays its own graphs (`own_cuda_graph`, e.g. torch-cudagraph) is not captured again: a
replay inside a capture would nest. A runner whose runtime cannot be captured at all says why
in `outer_cuda_graph_refusal` and is refused before anything runs (see
`refuse_outer_cuda_graph`). A runner whose runtime waits for the GPU inside its compute call
says so in `serialized_reason` (onnxruntime's TensorRT EP synchronizes its stream), and the
loop also notices when the compute stream is already idle as the enqueue returns: either way
the two iterations were not really in flight, and the result says so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from resnet_deploy.backends.base import DeviceTimingHooks, Runner
from resnet_deploy.bench.config import Warmup
from resnet_deploy.bench.stats import MIN_SAMPLES
from resnet_deploy.errors import InvalidInputError


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
    concurrency: int = 1  # callers in flight at once (CPU backends)
    idle_after_enqueue: int = 0  # iterations whose compute stream was idle when the enqueue returned
    notes: list[str] = field(default_factory=list)  # said once per backend in the report

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


OnIteration = Callable[[int, float], None]


def measure_cpu(runner: Runner, feeds: Mapping[str, np.ndarray], *, warmup: Warmup,
                iterations: int | None, duration_s: float | None, min_iterations: int = MIN_SAMPLES,
                on_iteration: OnIteration | None = None) -> Measurement:
    """perf_counter_ns around each synchronous `infer`; warm-up outside the measured loop.
    `on_iteration(count, elapsed_s)` (a progress display) runs after each iteration, outside
    its timed region."""
    infer = runner.infer
    run_warmup(lambda: infer(feeds), warmup)
    latencies: list[float] = []
    clock = time.perf_counter_ns
    loop_start = clock()
    while _keep_going(len(latencies), loop_start, iterations, duration_s, min_iterations):
        start = clock()
        infer(feeds)
        end = clock()
        latencies.append((end - start) / 1e6)
        if on_iteration is not None:
            on_iteration(len(latencies), (end - loop_start) / 1e9)
    wall = (clock() - loop_start) / 1e9
    return Measurement(latency_ms=latencies, wall_s=wall, timer="perf_counter_ns")


def measure_cpu_concurrent(runner: Runner, feeds: Mapping[str, np.ndarray], concurrency: int, *, warmup: Warmup,
                           iterations: int | None, duration_s: float | None, min_iterations: int = MIN_SAMPLES,
                           on_iteration: OnIteration | None = None) -> Measurement:
    """`concurrency` callers in flight at once, each calling `infer` in a loop (OpenVINO
    benchmark_app's asynchronous requests, onnxruntime_perf_test -c): every call's latency,
    and the wall time until the last caller finished; throughput is all images over that
    wall time. The run-length rule counts the calls of all callers together. Runners are
    thread-safe (backends/base.py)."""
    from concurrent.futures import ThreadPoolExecutor

    if concurrency < 1:
        raise InvalidInputError(f"`concurrency` must be at least 1, got {concurrency}", param="concurrency")
    if concurrency == 1:
        return replace(measure_cpu(runner, feeds, warmup=warmup, iterations=iterations, duration_s=duration_s,
                                   min_iterations=min_iterations, on_iteration=on_iteration), concurrency=1)
    infer = runner.infer
    clock = time.perf_counter_ns
    lock = threading.Lock()
    latencies: list[float] = []
    with ThreadPoolExecutor(concurrency, thread_name_prefix="bench-caller") as pool:
        list(pool.map(lambda _: run_warmup(lambda: infer(feeds), warmup), range(concurrency)))
        loop_start = clock()

        def caller(_: int) -> None:
            while True:
                with lock:
                    if not _keep_going(len(latencies), loop_start, iterations, duration_s, min_iterations):
                        return
                start = clock()
                infer(feeds)
                end = clock()
                with lock:
                    latencies.append((end - start) / 1e6)
                    count = len(latencies)
                if on_iteration is not None:
                    on_iteration(count, (end - loop_start) / 1e9)

        for future in [pool.submit(caller, i) for i in range(concurrency)]:
            future.result()  # a caller's exception fails the measurement
    wall = (clock() - loop_start) / 1e9
    return Measurement(latency_ms=latencies, wall_s=wall, timer="perf_counter_ns", concurrency=concurrency)


def refuse_outer_cuda_graph(backends: Sequence[tuple[str, str | None]]) -> None:
    """InvalidInputError (exit 2, one line) when `cuda_graph` is asked of a backend whose
    runtime cannot be captured from outside; `backends` is (name, refusal or None) pairs."""
    for name, refusal in backends:
        if refusal:
            raise InvalidInputError(f"cuda_graph: {name} cannot run inside an outer CUDA graph capture: {refusal}",
                                    param="cuda_graph")


def outer_cuda_graph_refusal(backend: str) -> str | None:
    """Why `backend`'s runtime cannot be captured into an outer CUDA graph, or None (its
    registry row says)."""
    from resnet_deploy.backends.registry import get_backend

    return get_backend(backend).outer_graph_refusal


@dataclass
class _Iteration:
    """The events of one in-flight iteration of one runner (trtexec's MultiEvent)."""

    compute_start: Any
    compute_end: Any
    input_start: Any = None
    input_end: Any = None
    output_start: Any = None
    output_end: Any = None
    enqueue_ms: float = 0.0
    idle_after_enqueue: bool = False
    pending: bool = False

    def events(self) -> list[Any]:
        return [e for e in (self.input_start, self.input_end, self.compute_start, self.compute_end,
                            self.output_start, self.output_end) if e is not None]


@dataclass
class _Lane:
    """One runner with its compute stream and (with transfers) its own input and output streams."""

    hooks: DeviceTimingHooks
    compute: int
    input: int | None
    output: int | None
    iterations: list[_Iteration]
    graph: Any = None


def measure_gpu(runners: Sequence[DeviceTimingHooks], feeds: Mapping[str, np.ndarray], *, warmup: Warmup,
                iterations: int | None, duration_s: float | None, min_iterations: int = MIN_SAMPLES,
                no_data_transfers: bool = False, cuda_graph: bool = False, events: Any = None,
                in_flight: int = 2, on_iteration: OnIteration | None = None) -> Measurement:
    """trtexec's measurement on each runner's streams; `runners` are the concurrent contexts
    (one per stream). `iterations` counts iterations per runner."""
    from resnet_deploy.runtime.cuda_events import cuda_event_api

    api = events if events is not None else cuda_event_api()
    transfers = not no_data_transfers
    result = Measurement(latency_ms=[], wall_s=0.0, timer=f"cuda-events ({api.name})", streams=len(runners))
    if cuda_graph:
        refuse_outer_cuda_graph([(_name(h), getattr(h, "outer_cuda_graph_refusal", None)) for h in runners])
    for hooks in runners:
        reason = getattr(hooks, "serialized_reason", None)
        if reason:
            result.notes.append(f"runs serialized, so two iterations are never in flight: {reason}")
    for hooks in runners:
        hooks.stage(feeds, device_resident=no_data_transfers)
    lanes: list[_Lane] = []
    try:
        for hooks in runners:
            lane = _Lane(hooks, hooks.stream, api.create_stream() if transfers else None,
                         api.create_stream() if transfers else None, [])
            lanes.append(lane)
            for _ in range(in_flight):
                lane.iterations.append(_Iteration(api.create(), api.create()))
                if transfers:
                    current = lane.iterations[-1]
                    current.input_start, current.input_end = api.create(), api.create()
                    current.output_start, current.output_end = api.create(), api.create()
        if cuda_graph:
            for lane in lanes:
                if getattr(lane.hooks, "own_cuda_graph", False):
                    result.notes.append(f"cuda_graph: {_name(lane.hooks)} replays its own CUDA graph per batch size; "
                                        "the outer capture was skipped (a graph replay inside a capture would nest)")
                    continue
                if transfers:  # the captured compute reads device inputs: put them there first
                    lane.hooks.enqueue_h2d()
                    lane.hooks.synchronize()
                lane.graph = api.graph_capture(lane.compute, lane.hooks.enqueue_compute)
        result.notes = list(dict.fromkeys(result.notes))
        _run_loops(api, lanes, result, warmup, iterations, duration_s, min_iterations, transfers, in_flight,
                   on_iteration)
    finally:
        _free(api, lanes)
    return result


def _name(hooks: Any) -> str:
    return str(getattr(hooks, "name", type(hooks).__name__))


def _run_loops(api: Any, lanes: list[_Lane], result: Measurement, warmup: Warmup, iterations: int | None,
               duration_s: float | None, min_iterations: int, transfers: bool, in_flight: int,
               on_iteration: OnIteration | None = None) -> None:
    idle_count = 0

    def enqueue(lane: _Lane, it: _Iteration) -> None:
        hooks = lane.hooks
        if transfers:
            assert lane.input is not None and lane.output is not None
            api.record(it.input_start, lane.input)
            hooks.enqueue_h2d(lane.input)
            api.record(it.input_end, lane.input)
            api.wait(lane.compute, it.input_end)  # compute starts once this iteration's inputs are there
        api.record(it.compute_start, lane.compute)
        t0 = time.perf_counter_ns()
        if lane.graph is not None:
            api.graph_launch(lane.graph, lane.compute)
        else:
            hooks.enqueue_compute()
        it.enqueue_ms = (time.perf_counter_ns() - t0) / 1e6
        it.idle_after_enqueue = api.stream_idle(lane.compute)
        api.record(it.compute_end, lane.compute)
        if transfers:
            assert lane.output is not None
            api.wait(lane.output, it.compute_end)  # outputs are copied once the compute is done
            api.record(it.output_start, lane.output)
            hooks.enqueue_d2h(lane.output)
            api.record(it.output_end, lane.output)
        it.pending = True

    def collect(it: _Iteration, keep: bool) -> None:
        nonlocal idle_count
        api.synchronize(it.output_end if transfers else it.compute_end)
        it.pending = False
        if not keep:
            return
        compute = api.elapsed_ms(it.compute_start, it.compute_end)
        result.compute_ms.append(compute)
        result.enqueue_ms.append(it.enqueue_ms)
        idle_count += it.idle_after_enqueue
        if transfers:
            h2d = api.elapsed_ms(it.input_start, it.input_end)
            d2h = api.elapsed_ms(it.output_start, it.output_end)
            result.h2d_ms.append(h2d)
            result.d2h_ms.append(d2h)
            result.latency_ms.append(h2d + compute + d2h)
        else:
            result.latency_ms.append(compute)

    def loop(keep_going: Callable[[int], bool], keep: bool) -> int:
        count = 0
        while keep_going(count):
            for lane in lanes:
                it = lane.iterations[count % in_flight]
                if it.pending:
                    collect(it, keep)
                enqueue(lane, it)
            count += 1
        for lane in lanes:  # drain the oldest iteration first, so samples stay in order
            for offset in range(in_flight):
                it = lane.iterations[(count + offset) % in_flight]
                if it.pending:
                    collect(it, keep)
        return count

    if warmup.iterations is not None:
        loop(lambda n: n < (warmup.iterations or 0), keep=False)
    else:
        started = time.perf_counter_ns()
        seconds = warmup.seconds or 0.0
        loop(lambda n: seconds > 0 and (n == 0 or (time.perf_counter_ns() - started) / 1e9 < seconds), keep=False)
    for lane in lanes:
        lane.hooks.synchronize()
    loop_start = time.perf_counter_ns()

    def measured(n: int) -> bool:
        if on_iteration is not None and n:
            on_iteration(n, (time.perf_counter_ns() - loop_start) / 1e9)
        return _keep_going(n, loop_start, iterations, duration_s, min_iterations)

    loop(measured, keep=True)
    for lane in lanes:
        lane.hooks.synchronize()
    result.wall_s = (time.perf_counter_ns() - loop_start) / 1e9
    result.idle_after_enqueue = idle_count


def _free(api: Any, lanes: list[_Lane]) -> None:
    """Destroy every event, graph and stream made here, even when one fails; raise the first failure."""
    first: BaseException | None = None
    for lane in lanes:
        for event in [e for it in lane.iterations for e in it.events()]:
            try:
                api.destroy(event)
            except BaseException as exc:
                first = first or exc
        for destroy, handle in ((api.graph_destroy, lane.graph), (api.destroy_stream, lane.input),
                                (api.destroy_stream, lane.output)):
            if handle is None:
                continue
            try:
                destroy(handle)
            except BaseException as exc:
                first = first or exc
    if first is not None:
        raise first
