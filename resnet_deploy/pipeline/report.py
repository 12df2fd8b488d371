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
from resnet_deploy.render import Column, markdown_table, markdown_to_html, precision_for


def _num(value: Any, digits: int = 3) -> str:
    """A value inside a sentence or a summary cell."""
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:.0f}"
    return "" if value is None else str(value)


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


def render_markdown(data: JsonObject) -> str:
    cfg = data["config"]
    out = [f"# resnet-deploy pipeline: {cfg['model']} on {cfg['dataset']}", "",
           f"Run {data['created']}, {data['seconds']:.0f} s in total, output folder `{cfg['out']}`"
           + (" (quick mode)" if cfg.get("quick") else "") + ".", ""]
    bench = data.get("bench")
    if bench:
        out += [f"Machine: {machine_line(bench)}", ""]
    out += ["## Steps", "", markdown_table(
        [Column("step"), Column("status"), Column("seconds", ".1f"), Column("result")],
        [[s["name"], s["status"], s["seconds"],
          s["reason"] or "; ".join(f"{k}: {_num(v)}" for k, v in s["summary"].items())] for s in data["steps"]]), ""]
    skipped = [s for s in data["steps"] if s["status"] != "done"]
    variants = data.get("variants") or {}
    missing_variants = [v for v in variants.values() if not v.get("path")]
    if skipped or missing_variants or (bench and bench.get("unavailable_backends")):
        out += ["## Skipped, and why", ""]
        out += [f"- {s['name']}: {s['status']}: {s['reason']}" for s in skipped]
        out += [f"- {v['name']}: {v['reason']}" for v in missing_variants]
        if bench:
            out += [f"- backend {b}: {why}" for b, why in bench.get("unavailable_backends", {}).items()]
        out.append("")
    train = data.get("train")
    if train:
        final = train.get("final") or {}
        out += ["## Training", "",
                f"{train['epochs_run']} epoch(s) in {train['seconds']:.0f} s ({train['train_images_per_second']:.0f} images/s); "
                f"best validation top-1 {_pct(train['best_val_top1'])} at epoch {train['best_epoch']}; checkpoint "
                f"`{Path(train['best_checkpoint']).name}`.", ""]
        if final:
            out += [markdown_table([_column(k, [v]) for k, v in final.items()], [list(final.values())]), ""]
        if train.get("curves"):
            curves = Path(train["curves"])
            rel = curves.relative_to(Path(cfg["out"])) if curves.is_relative_to(Path(cfg["out"])) else curves
            out += [f"![training curves]({rel.as_posix()})", ""]
    validation = data.get("validation")
    if validation:
        model, reference = validation["model"], validation["reference"]
        out += [f"## Validation: {model['backend']} against {reference['backend']}", "",
                f"{'Passed' if validation['passed'] else 'FAILED'} on {_inputs_text(validation['inputs'])}.", ""]
        body = []
        for pair in validation["comparisons"]:
            for name, c in pair["outputs"].items():
                body.append([pair["batch_size"], name, c.get("max_abs"), c.get("max_error"), c.get("cosine"),
                             c.get("top1_agreement"), "pass" if c.get("passed", True) else "FAIL"])
        out += [markdown_table([Column("batch", "d"), Column("output"), Column("max abs diff", ".3g"),
                                Column("max error / RMS", ".3g"), Column("cosine", ".6f"),
                                Column("top-1 agreement", ".2%"), Column("result")], body), ""]
    if variants:
        out += ["## Precision variants", "", markdown_table(
            [Column("variant"), Column("file"), Column("seconds", ".1f"), Column("note")],
            [[v["name"], Path(v["path"]).name if v.get("path") else "", v.get("seconds"), v.get("reason") or ""]
             for v in variants.values()]), ""]
    accuracy = data.get("accuracy")
    if accuracy:
        ref = accuracy["reference"]
        rows = [[Path(m["model"]).name, m["precision"], m["top1"], m["top5"], m["top1_agreement"], m["cosine"],
                 None if m is ref else m["drop"]] for m in [ref, *accuracy["models"]]]
        out += ["## Accuracy against FP32", "",
                f"{accuracy['samples']} images of the {accuracy['dataset']} {accuracy['split']} split.", "",
                markdown_table([Column("model"), Column("precision"), Column("top-1 %", ".2f"), Column("top-5 %", ".2f"),
                                Column("top-1 agreement %", ".2f"), Column("mean cosine", ".5f"),
                                Column("drop (points)", "+.2f")], rows), ""]
    if bench:
        result = as_result(bench, what="the pipeline's benchmark result")
        keys = result.config.percentile_keys()
        rows = [[b.label, r.batch, r.latency_ms.median, *[r.latency_ms.get(k) for k in keys], r.throughput_ips,
                 r.latency_ms.samples] for b, r in result.rows()]
        ms = precision_for([v for row in rows for v in row[2:2 + len(keys) + 1]])
        columns = [Column("backend"), Column("batch", "d"), Column("median ms", ms), *[Column(f"{k} ms", ms) for k in keys],
                   Column("img/s", precision_for([row[-2] for row in rows], grouping=True)), Column("samples", ",d")]
        out += ["## Benchmark", "", f"{run_length(result.config)}; latency per batch in ms.", "",
                markdown_table(columns, rows), ""]
        out += [f"- {line}" for line in result.warnings()]
        out += ["", "![throughput](bench_throughput.png)", "", "![latency](bench_latency.png)", ""]
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
