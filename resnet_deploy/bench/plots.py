"""PNG plots of a benchmark: throughput vs batch and latency percentiles vs batch, one line
per backend (matplotlib's Agg backend, so no display is needed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from resnet_deploy.artifacts import atomic_write_with


def save_plots(data: dict[str, Any], out_dir: str | os.PathLike[str], prefix: str = "", title: str | None = None) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    backends = [b for b in data["backends"] if b["results"]]
    if not backends:
        return []
    keys = ["median"] + [f"p{p:g}" for p in data.get("config", {}).get("percentiles", [90, 95, 99])]
    written = []

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for backend in backends:
        batches = [r["batch"] for r in backend["results"]]
        ax.plot(batches, [r["throughput_ips"] for r in backend["results"]], marker="o", label=backend["label"])
    _style(ax, "throughput (images/s)", f"{title}: throughput vs batch size" if title else "Throughput vs batch size")
    fig.tight_layout()
    written.append(atomic_write_with(out / f"{prefix}throughput.png", lambda p: fig.savefig(p, format="png", dpi=110, bbox_inches="tight")))
    plt.close(fig)

    # One colour per backend, one line style per statistic: two small legends instead of
    # backends x statistics entries.
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(9, 4.8))
    styles: list[Any] = ["-", "--", ":", "-."]
    for index, backend in enumerate(backends):
        batches = [r["batch"] for r in backend["results"]]
        color = f"C{index % 10}"
        for n, key in enumerate(keys):
            values = [r["latency_ms"].get(key) for r in backend["results"]]
            ax.plot(batches, values, linestyle=styles[n % len(styles)], marker="o", markersize=3, color=color)
    _style(ax, "latency per batch (ms)", f"{title}: latency vs batch size" if title else "Latency percentiles vs batch size",
           legend=False)
    ax.set_yscale("log")
    colours = ax.legend(handles=[Line2D([], [], color=f"C{i % 10}") for i in range(len(backends))],
                        labels=[b["label"] for b in backends], fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.add_artist(colours)
    ax.legend(handles=[Line2D([], [], color="black", linestyle=styles[n % len(styles)]) for n in range(len(keys))],
              labels=keys, fontsize=7, loc="lower left", bbox_to_anchor=(1.01, 0.0))
    fig.subplots_adjust(left=0.08, right=0.74, top=0.92, bottom=0.11)  # room for the legends on the right
    written.append(atomic_write_with(out / f"{prefix}latency.png", lambda p: fig.savefig(p, format="png", dpi=110)))
    plt.close(fig)
    return written


def _style(ax: Any, ylabel: str, title: str, legend: bool = True) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))  # 1, 2, 4, ... not 2^0, 2^1, ...
    ax.set_xlabel("batch size")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if legend:
        ax.legend(fontsize=7)
