"""A simulated GPU for the timing loop: streams with their own clocks, events, cross-stream waits.

Each stream runs its work in order; enqueuing work advances the stream's clock by the work's
simulated duration (the GPU is never starved: host time does not appear on these clocks). An
event records its stream's clock; `wait(stream, event)` makes the stream start its next work
no earlier than the event. So the simulated timeline is what a GPU with separate copy and
compute engines does with the work and dependencies the loop enqueues.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Interval:
    kind: str
    stream: int
    start: float
    end: float


class SimEvents:
    """The EventApi of runtime/cuda_events.py over simulated streams."""

    name = "sim"

    def __init__(self, idle_after_enqueue: bool = False) -> None:
        self.clock: dict[int, float] = {}
        self.log: list[str] = []
        self.work: list[Interval] = []
        self.idle_after_enqueue = idle_after_enqueue
        self.created_streams: list[int] = []
        self.destroyed_streams: list[int] = []
        self.live_events = 0
        self._next_stream = 1000

    # -- simulated work ---------------------------------------------------------------------
    def run(self, kind: str, stream: int, ms: float) -> None:
        start = self.clock.get(stream, 0.0)
        self.clock[stream] = start + ms
        self.work.append(Interval(kind, stream, start, start + ms))
        self.log.append(kind)

    def intervals(self, kind: str) -> list[Interval]:
        return [w for w in self.work if w.kind == kind]

    # -- the EventApi -----------------------------------------------------------------------
    def create(self) -> dict[str, float]:
        self.live_events += 1
        return {}

    def destroy(self, event: Any) -> None:
        self.live_events -= 1

    def record(self, event: dict[str, float], stream: int) -> None:
        event["t"] = self.clock.get(stream, 0.0)

    def synchronize(self, event: dict[str, float]) -> None:
        self.log.append("sync")

    def elapsed_ms(self, start: dict[str, float], end: dict[str, float]) -> float:
        return end["t"] - start["t"]

    def create_stream(self) -> int:
        self._next_stream += 1
        self.created_streams.append(self._next_stream)
        return self._next_stream

    def destroy_stream(self, stream: int) -> None:
        self.destroyed_streams.append(stream)

    def wait(self, stream: int, event: dict[str, float]) -> None:
        self.clock[stream] = max(self.clock.get(stream, 0.0), event["t"])

    def stream_idle(self, stream: int) -> bool:
        return self.idle_after_enqueue

    def graph_capture(self, stream: int, enqueue: Any) -> str:
        self.log.append("capture")
        return "graph"

    def graph_launch(self, graph: Any, stream: int) -> None:
        self.run("graph", stream, 3.0)

    def graph_destroy(self, graph: Any) -> None:
        self.log.append("graph-destroyed")


@dataclass
class SimHooks:
    """DeviceTimingHooks on the simulated GPU: H2D 1 ms, compute 3 ms, D2H 0.5 ms of GPU time.
    `h2d_host_s` is host time spent in enqueue_h2d (it must not count as enqueue time)."""

    events: SimEvents
    own_stream: int
    h2d_host_s: float = 0.0
    name: str = "sim"
    staged: list[bool] = field(default_factory=list)
    copies_on: list[int] = field(default_factory=list)

    @property
    def stream(self) -> int:
        return self.own_stream

    def stage(self, feeds: Mapping[str, np.ndarray], *, device_resident: bool = False) -> None:
        self.staged.append(device_resident)

    def enqueue_h2d(self, stream: int | None = None) -> None:
        if self.h2d_host_s:
            time.sleep(self.h2d_host_s)
        target = self.own_stream if stream is None else stream
        self.copies_on.append(target)
        self.events.run("h2d", target, 1.0)

    def enqueue_compute(self) -> None:
        self.events.run("compute", self.own_stream, 3.0)

    def enqueue_d2h(self, stream: int | None = None) -> None:
        target = self.own_stream if stream is None else stream
        self.copies_on.append(target)
        self.events.run("d2h", target, 0.5)

    def synchronize(self) -> None:
        pass

    def fetch_outputs(self) -> dict[str, np.ndarray]:
        return {}
