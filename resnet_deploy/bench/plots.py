"""PNG plots of a benchmark a person can read (matplotlib's Agg backend, no display needed).

- throughput.png: images/s against batch size, one line per backend on one chart while
  there are at most MAX_LINES backends; beyond that, one small chart per backend on shared
  axes, so no chart ever holds more lines than the eye can follow.
- latency.png: small multiples, one chart per backend on shared axes, each with the median
  and the percentiles (at most MAX_LINES lines per chart): 5 backends x 4 statistics are five
  readable charts, not 20 lines on one.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from resnet_deploy.atomic import atomic_write_with
from resnet_deploy.bench.result import BackendRun, ResultLike, as_result

MAX_LINES = 6
_DPI = 110


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grid(count: int) -> tuple[int, int]:
    columns = min(3, count)
    return math.ceil(count / columns), columns


def _save(fig: Any, path: Path) -> Path:
    plt = _pyplot()
    try:
        return atomic_write_with(path, lambda p: fig.savefig(p, format="png", dpi=_DPI, bbox_inches="tight"))
    finally:
        plt.close(fig)


def _statistics(keys: list[str]) -> list[str]:
    """The median and the percentiles, thinned to MAX_LINES (the highest kept: the tail matters)."""
    percentiles = [k for k in keys if k != "p50"]
    return ["median", *percentiles[-(MAX_LINES - 1):]]


def save_plots(data: ResultLike, out_dir: str | os.PathLike[str], prefix: str = "", title: str | None = None) -> list[Path]:
    result = as_result(data)
    backends = _by_concurrency([b for b in result.backends if b.results])
    if not backends:
        return []
    out = Path(out_dir)
    stats = _statistics(result.config.percentile_keys())
    return [_save(_throughput(backends, title), out / f"{prefix}throughput.png"),
            _save(_latency(backends, stats, title), out / f"{prefix}latency.png")]


def _throughput(backends: list[BackendRun], title: str | None) -> Any:
    plt = _pyplot()
    heading = f"{title}: throughput vs batch size" if title else "Throughput vs batch size"
    if len(backends) <= MAX_LINES:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for index, backend in enumerate(backends):
            ax.plot([r.batch for r in backend.results], [r.throughput_ips for r in backend.results], marker="o",
                    color=f"C{index}", label=backend.label)
        _axes(ax, "images/s")
        ax.set_title(heading)
        ax.legend(fontsize=8, loc="best")
        fig.tight_layout()
        return fig
    rows, columns = _grid(len(backends))
    fig, axes = plt.subplots(rows, columns, figsize=(max(6.0, 4.2 * columns), 3.2 * rows), sharex=True, sharey=True,
                             squeeze=False)
    for index, backend in enumerate(backends):
        ax = axes[index // columns][index % columns]
        ax.plot([r.batch for r in backend.results], [r.throughput_ips for r in backend.results], marker="o",
                color="C0")
        _axes(ax, "images/s" if index % columns == 0 else None, xlabel=index // columns == rows - 1)
        ax.set_title(backend.label, fontsize=9)
    _hide_unused(axes, len(backends))
    fig.suptitle(heading)
    fig.tight_layout()
    return fig


def _latency(backends: list[BackendRun], stats: list[str], title: str | None) -> Any:
    plt = _pyplot()
    rows, columns = _grid(len(backends))
    fig, axes = plt.subplots(rows, columns, figsize=(max(6.0, 4.2 * columns), 3.2 * rows + 0.6), sharex=True, sharey=True,
                             squeeze=False)
    styles = ["-", "--", "-.", ":", (0, (5, 1)), (0, (1, 1))]
    for index, backend in enumerate(backends):
        ax = axes[index // columns][index % columns]
        batches = [r.batch for r in backend.results]
        for n, key in enumerate(stats):
            ax.plot(batches, [r.latency_ms.get(key) for r in backend.results], linestyle=styles[n % len(styles)],
                    marker="o", markersize=3, color=f"C{n}", label=key)
        _axes(ax, "latency per batch (ms)" if index % columns == 0 else None, xlabel=index // columns == rows - 1)
        ax.set_yscale("log")
        ax.set_title(backend.label, fontsize=9)
    _hide_unused(axes, len(backends))
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(stats), fontsize=8, frameon=False)
    fig.suptitle(f"{title}: latency vs batch size" if title else "Latency vs batch size (median and percentiles)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def _hide_unused(axes: Any, used: int) -> None:
    """Hide the empty cells of the grid; the chart above an empty cell keeps its x labels."""
    columns = len(axes[0])
    flat = [ax for row in axes for ax in row]
    for index in range(used, len(flat)):
        flat[index].set_visible(False)
        if index - columns >= 0:
            flat[index - columns].xaxis.set_tick_params(labelbottom=True)
            flat[index - columns].set_xlabel("batch size")


def _axes(ax: Any, ylabel: str | None, xlabel: bool = True) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))  # 1, 2, 4, ... not 2^0, 2^1, ...
    if xlabel:
        ax.set_xlabel("batch size")
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)


def _by_concurrency(backends: list[BackendRun]) -> list[BackendRun]:
    """One series per backend and number of callers in flight (bench --concurrency); a run
    with one caller keeps its label."""
    series = []
    for backend in backends:
        levels = sorted({r.concurrency for r in backend.results})
        if levels == [1]:
            series.append(backend)
            continue
        for level in levels:
            rows = [r for r in backend.results if r.concurrency == level]
            series.append(backend.model_copy(update={"label": f"{backend.label}, {level} caller{'s' if level > 1 else ''}",
                                                     "results": rows}))
    return series
