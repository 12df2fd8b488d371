"""A profile as people and programs read it: tables (render.py), CSV, and a PNG chart
(matplotlib, Agg) of where the time goes."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from resnet_deploy.atomic import atomic_write_text, atomic_write_with
from resnet_deploy.profile.diff import ProfileComparison
from resnet_deploy.profile.record import ProfileResult
from resnet_deploy.render import Column, render_table

CHART_LAYERS = 20
_COLOURS = {"fp32": "#4c72b0", "fp16": "#55a868", "bf16": "#8172b2", "int8": "#dd8452"}


def _nodes(nodes: tuple[str, ...] | list[str], most: int = 2) -> str:
    shown = ", ".join(nodes[:most])
    return shown + (f" (+{len(nodes) - most})" if len(nodes) > most else "") if nodes else "-"


def summary_line(result: ProfileResult) -> str:
    runtime = f", runtime's own {result.runtime_ms:.3f} ms" if result.runtime_ms is not None else ""
    return (f"layers sum to {result.layer_sum_ms:.3f} ms (median over the iterations; the layers' own medians add "
            f"up to {result.sum_of_medians_ms:.3f} ms); end-to-end median {result.end_to_end_ms:.3f} ms{runtime} "
            f"(the layers are {result.coverage:.0%} of it)")


def render_profile(result: ProfileResult, *, top: int = 25) -> str:
    """Heading, the `top` slowest layers (0: all, in execution order otherwise slowest first),
    totals by op type and by precision, the layer sum beside the end-to-end median."""
    total = result.sum_of_medians_ms
    layers = result.layers if top == 0 else result.sorted_layers()[:top]
    columns = [Column("#"), Column("layer"), Column("ONNX node(s)"), Column("op"), Column("precision"),
               Column("median ms", ".4f"), Column("share", ".1%")]
    rows = [[x.order, x.name, _nodes(x.onnx_nodes), x.op_type, x.precision, x.median_ms,
             x.median_ms / total if total else 0.0] for x in layers]
    lines = [f"{result.model} on {result.backend} ({result.model_precision or 'precision unknown'}), batch "
             f"{result.batch_size}, {result.iterations} iterations after {result.warmup} warm-up: {result.method}", ""]
    title = "all layers" if top == 0 or top >= len(result.layers) else f"the {len(layers)} slowest of {len(result.layers)} layers"
    lines.append(render_table(columns, rows, title=title))
    for by, name in (("op_type", "op"), ("precision", "precision")):
        totals = result.totals(by)
        lines += ["", render_table([Column(name), Column("layers"), Column("median ms", ".4f"), Column("share", ".1%")],
                                   [[t.key, t.layers, t.median_ms, t.share] for t in totals], title=f"by {name}")]
    lines += ["", summary_line(result)]
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)


def render_comparison(comparison: ProfileComparison, *, top: int = 25) -> str:
    """The pairs, largest A+B time first (0: all, in execution order), and the summary."""
    a, b = comparison.a, comparison.b
    pairs = comparison.pairs if top == 0 else sorted(comparison.pairs, key=lambda p: p.a_ms + p.b_ms, reverse=True)[:top]
    columns = [Column("layer"), Column("ONNX node(s)"), Column("op"), Column("A precision"), Column("A ms", ".4f"),
               Column("B precision"), Column("B ms", ".4f"), Column("A/B", ".2f"), Column("why")]
    rows = [[p.label, _nodes(p.onnx_nodes), p.op_type, p.a_precision, p.a_ms if p.a else None, p.b_precision,
             p.b_ms if p.b else None, p.speedup, p.why] for p in pairs]
    s = comparison.summary()
    lines = [f"A: {a.model} on {a.backend} ({a.model_precision})", f"B: {b.model} on {b.backend} ({b.model_precision})",
             "", render_table(columns, rows), "",
             f"end-to-end median: A {a.end_to_end_ms:.3f} ms, B {b.end_to_end_ms:.3f} ms "
             f"(A/B {s.end_to_end_speedup:.2f}x); layer sums: A {a.layer_sum_ms:.3f} ms, B {b.layer_sum_ms:.3f} ms",
             f"in B: {s.b_conversions_ms:.3f} ms in conversions A does not run, {s.b_left_in_float_ms:.3f} ms in "
             f"layers left in float, {s.b_no_faster_ms:.3f} ms in int8 layers no faster than A's"]
    return "\n".join(lines)


def profile_csv(result: ProfileResult | ProfileComparison) -> str:
    """One row per layer (a profile) or per pair (a comparison)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if isinstance(result, ProfileComparison):
        writer.writerow(["label", "onnx_nodes", "op_type", "a_precision", "a_ms", "b_precision", "b_ms", "speedup",
                         "why"])
        for pair in result.pairs:
            writer.writerow([pair.label, " ".join(pair.onnx_nodes), pair.op_type, pair.a_precision, pair.a_ms,
                             pair.b_precision, pair.b_ms, pair.speedup, pair.why])
    else:
        writer.writerow(["order", "layer", "onnx_nodes", "op_type", "precision", "median_ms", "share"])
        total = result.sum_of_medians_ms
        for x in result.layers:
            writer.writerow([x.order, x.name, " ".join(x.onnx_nodes), x.op_type, x.precision, x.median_ms,
                             x.median_ms / total if total else 0.0])
    return buffer.getvalue()


def write_csv(result: ProfileResult | ProfileComparison, path: str | os.PathLike[str]) -> Path:
    return atomic_write_text(path, profile_csv(result))


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_chart(result: ProfileResult | ProfileComparison, path: str | os.PathLike[str]) -> Path:
    """Horizontal bars of the slowest layers (coloured by precision), or of the slowest
    pairs with A and B side by side."""
    plt = _pyplot()
    if isinstance(result, ProfileComparison):
        pairs = sorted(result.pairs, key=lambda p: p.a_ms + p.b_ms, reverse=True)[:CHART_LAYERS][::-1]
        labels = [p.label for p in pairs]
        fig, ax = plt.subplots(figsize=(9, 0.32 * len(labels) + 1.5))
        ys = range(len(labels))
        ax.barh([y + 0.2 for y in ys], [p.a_ms for p in pairs], height=0.4, label=f"A: {Path(result.a.model).name}",
                color="#4c72b0")
        ax.barh([y - 0.2 for y in ys], [p.b_ms for p in pairs], height=0.4, label=f"B: {Path(result.b.model).name}",
                color="#dd8452")
        ax.legend(loc="lower right")
        title = f"per layer: {result.a.backend} A vs {result.b.backend} B"
    else:
        layers = result.sorted_layers()[:CHART_LAYERS][::-1]
        labels = [x.name for x in layers]
        fig, ax = plt.subplots(figsize=(9, 0.32 * len(labels) + 1.5))
        ax.barh(range(len(labels)), [x.median_ms for x in layers],
                color=[_COLOURS.get(x.precision or "", "#999999") for x in layers])
        handles = [plt.Rectangle((0, 0), 1, 1, color=c) for p, c in _COLOURS.items()
                   if any(x.precision == p for x in layers)]
        if handles:
            ax.legend(handles, [p for p in _COLOURS if any(x.precision == p for x in layers)], loc="lower right")
        title = (f"{Path(result.model).name} on {result.backend}: layers {result.layer_sum_ms:.2f} ms of "
                 f"{result.end_to_end_ms:.2f} ms end-to-end")
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("median ms per iteration")
    ax.set_title(title, fontsize=9)
    try:
        return atomic_write_with(path, lambda p: fig.savefig(p, format="png", dpi=110, bbox_inches="tight"))
    finally:
        plt.close(fig)
