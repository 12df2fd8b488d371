"""The pipeline's report: one Markdown file and the same content as standalone HTML.

The HTML is rendered from the Markdown this module writes (headings, paragraphs, lists,
tables, images, inline code), so the two can never disagree, with no Markdown dependency.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from resnet_deploy.artifacts import atomic_write_text
from resnet_deploy.bench.report import machine_line, markdown_table
from resnet_deploy.bench.report import rows as bench_rows


def _num(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:.0f}"
    return "" if value is None else str(value)


def _pct(fraction: float) -> str:
    """Training metrics are fractions (0.825); show them as percent."""
    return f"{fraction * 100:.2f}%"


def _inputs_text(inputs: dict[str, Any]) -> str:
    if inputs.get("kind") == "dataset":
        return f"{inputs.get('samples', '?')} images of the {inputs.get('dataset')} {inputs.get('split', '')} split"
    return f"{inputs.get('samples', '?')} {inputs.get('kind', 'random')} inputs"


def render_markdown(data: dict[str, Any]) -> str:
    cfg = data["config"]
    out = [f"# resnet-deploy pipeline: {cfg['model']} on {cfg['dataset']}", "",
           f"Run {data['created']}, {data['seconds']:.0f} s in total, output folder `{cfg['out']}`"
           + (" (quick mode)" if cfg.get("quick") else "") + ".", ""]
    bench = data.get("bench")
    if bench:
        out += [f"Machine: {machine_line(bench)}", ""]
    out += ["## Steps", "", markdown_table(["step", "status", "seconds", "result"], [
        [s["name"], s["status"], f"{s['seconds']:.1f}",
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
            out += [markdown_table(list(final), [[_num(v) for v in final.values()]]), ""]
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
                body.append([pair["batch_size"], name, _num(c.get("max_abs"), 6), _num(c.get("max_error"), 6),
                             _num(c.get("cosine"), 6), _num(c.get("top1_agreement"), 4),
                             "pass" if c.get("passed", True) else "FAIL"])
        out += [markdown_table(["batch", "output", "max abs diff", "max error / RMS", "cosine", "top-1 agreement",
                                "result"], body), ""]
    if variants:
        out += ["## Precision variants", "", markdown_table(["variant", "file", "seconds", "note"], [
            [v["name"], Path(v["path"]).name if v.get("path") else "", _num(v.get("seconds"), 1), v.get("reason") or ""]
            for v in variants.values()]), ""]
    accuracy = data.get("accuracy")
    if accuracy:
        ref = accuracy["reference"]
        out += ["## Accuracy against FP32", "",
                f"{accuracy['samples']} images of the {accuracy['dataset']} {accuracy['split']} split.", "",
                markdown_table(["model", "precision", "top-1 %", "top-5 %", "top-1 agreement %", "mean cosine", "drop (points)"],
                               [[Path(m["model"]).name, m["precision"], _num(m["top1"], 2), _num(m["top5"], 2),
                                 _num(m["top1_agreement"], 2), _num(m["cosine"], 5), _num(m["drop"], 2)]
                                for m in [ref, *accuracy["models"]]]), ""]
    if bench:
        keys = [f"p{p:g}" for p in bench["config"]["percentiles"]]
        body = [[r["backend"], r["batch"], _num(r["median_ms"]), *[_num(r[f"{k}_ms"]) for k in keys],
                 _num(r["throughput_ips"], 1), r["samples"]] for r in bench_rows(bench)]
        out += ["## Benchmark", "",
                f"Warm-up {bench['config']['warmup']}, {bench['config']['duration_s']} s per point; latency per batch in ms.", "",
                markdown_table(["backend", "batch", "median ms", *[f"{k} ms" for k in keys], "img/s", "samples"], body), ""]
        for backend in bench["backends"]:
            if backend.get("error"):
                out.append(f"- {backend['label']}: not run: {backend['error']}")
            for r in backend["results"]:
                out += [f"- {backend['label']} batch {r['batch']}: {w}" for w in r.get("warnings", [])]
        out += ["", "![throughput](bench_throughput.png)", "", "![latency](bench_latency.png)", ""]
    out += ["## Files", ""]
    for step in data["steps"]:
        out += [f"- `{Path(a).name}` ({step['name']})" for a in step["artifacts"]]
    out += ["- `pipeline.json`: everything above, for programs", ""]
    return "\n".join(out)


_INLINE_CODE = re.compile(r"`([^`]+)`")
_IMAGE = re.compile(r"^!\[([^\]]*)\]\(([^)]+)\)$")


def _inline(text: str) -> str:
    return _INLINE_CODE.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(text, quote=False))


def markdown_to_html(markdown: str, title: str) -> str:
    """The subset of Markdown render_markdown writes, as a standalone HTML page."""
    body: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
        elif line.startswith("|"):
            table = []
            while i < len(lines) and lines[i].startswith("|"):
                table.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            head, rows = table[0], table[2:]
            body.append("<table><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr></thead><tbody>"
                        + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rows)
                        + "</tbody></table>")
            continue
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            body.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif _IMAGE.match(line):
            match = _IMAGE.match(line)
            assert match is not None
            body.append(f'<p><img alt="{html.escape(match.group(1))}" src="{html.escape(match.group(2))}"></p>')
        elif line.strip():
            body.append(f"<p>{_inline(line.rstrip())}</p>")
        i += 1
    style = ("body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}"
             "td:first-child,th:first-child{text-align:left}img{max-width:100%}code{background:#f4f4f4}")
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_reports(data: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    markdown = render_markdown(data)
    md = atomic_write_text(out_dir / "report.md", markdown)
    title = f"resnet-deploy pipeline: {data['config']['model']} on {data['config']['dataset']}"
    page = atomic_write_text(out_dir / "report.html", markdown_to_html(markdown, title))
    return md, page
