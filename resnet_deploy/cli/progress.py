"""The benchmark's progress display on stderr: live (rich) on a terminal, one line per
timing point in logs and pipes."""

from __future__ import annotations

import sys
from typing import Any

import click

from resnet_deploy.bench.harness import BenchObserver, Point
from resnet_deploy.bench.result import BenchRow


def _clock(seconds: float | None) -> str:
    """3.2 s, 45 s, 2:05 (minutes:seconds from a minute on)."""
    if seconds is None:
        return "?"
    if seconds < 10:
        return f"{max(seconds, 0.0):.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def plan_line(specs: list[Any], config: Any) -> str:
    """What is about to be timed, in one line."""
    from resnet_deploy.bench.report import run_length
    from resnet_deploy.bench.result import ConfigRecord

    batches = (", ".join(map(str, config.batch_sizes)) if config.batch_sizes
               else "the default sweep (powers of two; stops before a point would take over "
                    f"{config.max_point_seconds:g} s)")
    record = ConfigRecord.model_validate(config.to_dict())
    return (f"timing {len(specs)} backend{'s' if len(specs) != 1 else ''} ({', '.join(s.name for s in specs)}) at batch "
            f"{batches}; {run_length(record)}")


def _where(point: Point) -> str:
    sweep = "" if point.default_sweep else f" ({point.batch_index}/{point.batches})"
    backend = f"[{point.backend_index}/{point.backends}] " if point.backends > 1 else ""
    return f"{backend}{point.label} batch {point.batch}{sweep}"


class LineProgress(BenchObserver):
    """One line per timing point on stderr, for logs and pipes (no terminal)."""

    def planned(self, specs: list[Any], config: Any) -> None:
        click.echo(plan_line(specs, config), err=True)

    def point_started(self, point: Point) -> None:
        estimate = f", about {_clock(point.expected_s)} to measure" if point.expected_s else ""
        click.echo(f"  timing {_where(point)}{estimate} ...", err=True)

    def point_done(self, point: Point, row: BenchRow) -> None:
        click.echo(f"    {row.iterations} iterations in {row.measured_s or 0:.1f} s: median {row.latency_ms.median:.3f} ms, "
                   f"{row.throughput_ips:.1f} img/s", err=True)


class LiveProgress(BenchObserver):
    """A live display on stderr (rich): the point being timed, iterations so far, time spent
    and an estimate of the time left; a finished point is replaced by one summary line.
    Redrawn a few times a second from rich's own thread: the timing loop only hands over two
    numbers."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn

        self.console = console if console is not None else Console(file=sys.stderr)
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(bar_width=12),
                                 TextColumn("{task.fields[status]}"), console=self.console, refresh_per_second=4,
                                 transient=False)
        self.task: Any = None

    def planned(self, specs: list[Any], config: Any) -> None:
        self.console.print(plan_line(specs, config), markup=False, highlight=False)
        self.progress.start()

    def point_started(self, point: Point) -> None:
        expected = f"~{_clock(point.expected_s)} to measure" if point.expected_s else ""
        self.task = self.progress.add_task(_where(point), total=None, status=f"warming up {expected}".rstrip())

    def iteration(self, count: int, elapsed_s: float, remaining_s: float | None) -> None:
        if self.task is None:
            return
        total = elapsed_s + remaining_s if remaining_s is not None else None
        status = f"{count} it, {_clock(elapsed_s)}, ~{_clock(remaining_s)} left"
        self.progress.update(self.task, completed=elapsed_s, total=total, status=status)

    def point_done(self, point: Point, row: BenchRow) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        self.progress.console.print(f"{_where(point)}: {row.iterations} it in {row.measured_s or 0:.1f} s, median "
                                    f"{row.latency_ms.median:.3f} ms, {row.throughput_ips:,.1f} img/s",
                                    markup=False, highlight=False)

    def finished(self) -> None:
        self.progress.stop()


def bench_progress(*, quiet: bool) -> BenchObserver | None:
    """The progress display for `bench`: live on a terminal, one line per point otherwise,
    none with `quiet` (--json)."""
    if quiet:
        return None
    return LiveProgress() if sys.stderr.isatty() else LineProgress()
