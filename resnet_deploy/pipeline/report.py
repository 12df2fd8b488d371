"""The pipeline's report: one Markdown file and the same content as standalone HTML.

Tables go through resnet_deploy.render (named columns, numbers right-aligned at one
precision per column); the HTML is the Markdown this module writes, rendered by
markdown-it-py (render.markdown_to_html), so the two can never disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resnet_deploy.atomic import atomic_write_text
from resnet_deploy.bench.report import machine_line, run_length
from resnet_deploy.bench.result import as_result
from resnet_deploy.jsontypes import JsonObject
from resnet_deploy.pipeline.skips import Skip, group_skips
from resnet_deploy.precision.accuracy import AccuracyReport, report_table
from resnet_deploy.render import (
    Column,
    markdown_table,
    markdown_to_html,
    percent,
    precision_for,
    rate,
    significant,
    words,
)


def _pct(fraction: float) -> str:
    """Training metrics are fractions (0.825); show them as percent."""
    return f"{fraction * 100:.2f}%"


def _inputs_text(inputs: JsonObject) -> str:
    if inputs.get("kind") == "dataset":
        return f"{inputs.get('samples', '?')} images of the {inputs.get('dataset')} {inputs.get('split', '')} split"
    return f"{inputs.get('samples', '?')} {inputs.get('kind', 'random')} inputs"


def _column(title: str, values: list[Any]) -> Column:
    """A column whose numbers share one precision (integers stay integers, text stays text)."""
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return Column(title, ",d")
    return Column(title, precision_for(values, significant=4, most=4))


# The training loop's per-epoch fields, as the report names and formats them (fractions as %).
_EPOCH_COLUMNS = {"epoch": Column("epoch", "d"), "lr": Column("learning rate", ".3g"),
                  "train_loss": Column("train loss", ".3f"), "train_top1": Column("train top-1", ".2%"),
                  "val_loss": Column("val loss", ".3f"), "val_top1": Column("val top-1", ".2%"),
                  "val_top5": Column("val top-5", ".2%"), "train_seconds": Column("seconds", ".1f"),
                  "train_images_per_s": Column("images/s", ",.0f")}


def _step(data: JsonObject, name: str) -> JsonObject | None:
    return next((s for s in data["steps"] if s["name"] == name), None)


def _verdict(data: JsonObject) -> str:
    """The run's verdict in one line, first thing on the page."""
    steps = data["steps"]
    failed = [s["name"] for s in steps if s["status"] in ("failed", "check-failed")]
    skipped = [s["name"] for s in steps if s["status"] == "skipped"]
    if failed:
        return (f"**Verdict: FAILED** (exit code 1) at {words(failed)}; the Steps table says why and each step's "
                "section below shows the detail.")
    checks = [s["name"] for s in steps if s["name"] in ("validate", "accuracy") and s["status"] == "done"]
    text = "**Verdict: passed** (exit code 0)"
    text += f": {words(checks)} passed" if checks else ": no check ran"
    if skipped:
        text += f"; {words(skipped)} skipped here (see Skipped, and why)"
    return text + "."


def _skipped(data: JsonObject) -> list[str]:
    groups, installs = group_skips(Skip.from_dict(s) for s in data.get("skipped") or [])
    if not groups:
        return []
    out = ["## Skipped, and why", "", *[f"- {group.line()}" for group in groups], ""]
    if installs:
        out += ["To install what is missing, one line per package:", "",
                *[f"- {entry.line()}" for entry in installs], ""]
    return out


def _training(train: JsonObject, out_dir: Path) -> list[str]:
    out = ["## Training", "",
           f"{train['epochs_run']} epoch(s) in {train['seconds']:.0f} s ({rate(train['train_images_per_second'])} "
           f"images/s); best validation top-1 {_pct(train['best_val_top1'])} at epoch {train['best_epoch']}; "
           f"checkpoint `{Path(train['best_checkpoint']).name}`.", ""]
    final = {k: v for k, v in (train.get("final") or {}).items() if not isinstance(v, (dict, list))}
    if final:
        columns = [_EPOCH_COLUMNS.get(k) or _column(k, [v]) for k, v in final.items()]
        out += ["Last epoch:", "", markdown_table(columns, [list(final.values())]), ""]
    if train.get("curves"):
        curves = Path(train["curves"])
        rel = curves.relative_to(out_dir) if curves.is_relative_to(out_dir) else curves
        out += [f"![training curves]({rel.as_posix()})", ""]
    return out


def _validation(validation: JsonObject, step: JsonObject | None) -> list[str]:
    model, reference, tolerance = validation["model"], validation["reference"], validation["tolerance"]
    out = [f"## Validation: {model['backend']} against {reference.get('backend', 'saved outputs')}", ""]
    if step and step.get("result"):
        out += [f"{step['result'][0].upper()}{step['result'][1:]}.", ""]
    out += [f"{_inputs_text(validation['inputs'])}; limits ({validation['precision']}): max error "
            f"{significant(tolerance['max_error'])} of the reference outputs' RMS, cosine at least "
            f"{tolerance['min_cosine']:g}, top-1 agreement at least {percent(tolerance['min_top1'])}.", ""]
    body = []
    for pair in validation["comparisons"]:
        for name, c in pair["outputs"].items():
            body.append([pair["batch_size"], name, c.get("max_abs"), c.get("max_error"), c.get("cosine"),
                         c.get("top1_agreement"), "pass" if c.get("passed", True) else "FAIL"])
    columns = [Column("batch", "d"), Column("output"), Column("max abs diff", ".3g"), Column("max error / RMS", ".3g"),
               Column("cosine", ".6f"), Column("top-1 agreement", ".2%"), Column("result")]
    return [*out, markdown_table(columns, body), ""]


def _accuracy(accuracy: JsonObject, step: JsonObject | None, max_drop: float | None) -> list[str]:
    report = AccuracyReport.from_dict(accuracy)
    machine = report.machine
    limits = (f"`max_drop` {max_drop:g} points for every model" if max_drop is not None
              else "the default for the model's precision, as `resnet-deploy accuracy` applies it")
    out = ["## Accuracy against FP32", ""]
    if step and step.get("result"):
        out += [f"{step['result'][0].upper()}{step['result'][1:]}.", ""]
    out += [f"{report.samples} images of the {report.dataset} {report.split} split; models on "
            f"{machine.get('backend', '?')}, reference on {machine.get('reference_backend', '?')}. Judged as "
            f"`resnet-deploy accuracy` judges: a model fails when its top-1 drop exceeds its limit ({limits}); "
            "\"ok (inconclusive)\" when the drop is within the limit but its 95% interval (paired outcomes) "
            "reaches past it.", "", markdown_table(*report_table(report)), ""]
    if report.notes:
        out += [f"- {note}" for note in report.notes] + [""]
    return out


def _benchmark(bench: JsonObject) -> list[str]:
    result = as_result(bench, what="the pipeline's benchmark result")
    keys = result.config.percentile_keys()
    rows = [[b.label, r.batch, r.latency_ms.median, *[r.latency_ms.get(k) for k in keys], r.throughput_ips,
             r.latency_ms.samples] for b, r in result.rows()]
    ms = precision_for([v for row in rows for v in row[2:2 + len(keys) + 1]])
    columns = [Column("backend"), Column("batch", "d"), Column("median ms", ms), *[Column(f"{k} ms", ms) for k in keys],
               Column("img/s", precision_for([row[-2] for row in rows], grouping=True)), Column("samples", ",d")]
    out = ["## Benchmark", "", f"{run_length(result.config)}; latency per batch in ms.", "",
           markdown_table(columns, rows), ""]
    summary = result.warning_summary()
    if summary.lines:
        out += ["Warnings, one line per backend with the batch sizes they concern:", "",
                *[f"- {line}" for line in summary.lines], ""]
    if summary.kinds:
        out += ["What they say (each kind in full where first seen; bench.json has every point's):", "",
                *[f"- {line}" for line in summary.kinds], ""]
    return [*out, "![throughput](bench_throughput.png)", "", "![latency](bench_latency.png)", ""]


def render_markdown(data: JsonObject) -> str:
    cfg = data["config"]
    out_dir = Path(cfg["out"])
    out = [f"# resnet-deploy pipeline: {cfg['model']} on {cfg['dataset']}", "",
           f"Run {data['created']}, {data['seconds']:.0f} s in total, output folder `{cfg['out']}`"
           + (" (quick mode)" if cfg.get("quick") else "") + ".", "", _verdict(data), ""]
    bench = data.get("bench")
    if bench:
        out += [f"Machine: {machine_line(bench)}", ""]
    out += ["## Steps", "", markdown_table(
        [Column("step"), Column("status"), Column("seconds", ".1f"), Column("result")],
        [[s["name"], s["status"], s["seconds"], s.get("result") or s.get("reason") or ""] for s in data["steps"]]), ""]
    out += _skipped(data)
    if data.get("train"):
        out += _training(data["train"], out_dir)
    if data.get("validation"):
        out += _validation(data["validation"], _step(data, "validate"))
    variants = data.get("variants") or {}
    if variants:
        out += ["## Precision variants", "", markdown_table(
            [Column("variant"), Column("file"), Column("seconds", ".1f"), Column("note")],
            [[v["name"], Path(v["path"]).name if v.get("path") else "", v.get("seconds"), v.get("reason") or ""]
             for v in variants.values()]), ""]
    if data.get("accuracy"):
        out += _accuracy(data["accuracy"], _step(data, "accuracy"), cfg.get("max_drop"))
    if bench:
        out += _benchmark(bench)
    out += ["## Files", ""]
    for step in data["steps"]:
        out += [f"- `{Path(a).name}` ({step['name']})" for a in step["artifacts"]]
    out += ["- `pipeline.json`: everything above, for programs", ""]
    return "\n".join(out)


def write_reports(data: JsonObject, out_dir: Path) -> tuple[Path, Path]:
    markdown = render_markdown(data)
    md = atomic_write_text(out_dir / "report.md", markdown)
    title = f"resnet-deploy pipeline: {data['config']['model']} on {data['config']['dataset']}"
    page = atomic_write_text(out_dir / "report.html", markdown_to_html(markdown, title=title))
    return md, page
