"""Export time and torch-vs-onnxruntime agreement (issue 4's figures).

    python benchmarks/export_validate.py [--models resnet18 resnet50 resnet101] [--work DIR]

1. Export time of resnet50 at 224x224 with both exporters (dynamo, TorchScript), after one
   warm-up export per exporter so one-off import/compile costs are not counted (they are
   recorded separately as `first_export_seconds`).
2. `validate` of untrained resnet18/50/101 FP32 at 224x224: 16 seeded random inputs through
   PyTorch and onnxruntime (CPU) at batch 1 and 8: max abs / max rel / mean abs error,
   cosine, top-1/top-5 agreement.
3. A trained model: resnet20 trained on the bundled digits with `resnet-deploy train`
   (reused when DIR/resnet20/best.safetensors exists), exported from its checkpoint and
   validated on the whole digits validation split. The bar: max abs error <= 1e-4 on the
   logits and 100% top-1 agreement.

Writes benchmarks/results/<device>/export_validate.{json,md}, with the machine recorded.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.suite_common import results_dir, write_json

log = logging.getLogger("benchmarks.export_validate")

MAX_ABS_BAR = 1e-4
TRAIN_EPOCHS = 15


def time_exports(work: Path, model: str, size: int, repeats: int) -> list[dict[str, Any]]:
    from resnet_deploy.export import export_onnx

    rows = []
    for exporter in ("dynamo", "torchscript"):
        started = time.perf_counter()
        export_onnx(work / f"warmup_{exporter}.onnx", model="resnet18", input_size=64, exporter=exporter)
        first = time.perf_counter() - started
        seconds = []
        for _ in range(repeats):
            result = export_onnx(work / f"{model}_{size}_{exporter}.onnx", model=model, input_size=size, exporter=exporter)
            seconds.append(result.seconds)
        rows.append({"model": model, "input_size": size, "exporter": exporter, "seconds": seconds,
                     "min_seconds": min(seconds), "median_seconds": statistics.median(seconds),
                     "first_export_seconds": first, "file_mb": (work / f"{model}_{size}_{exporter}.onnx").stat().st_size / 1e6})
        log.info("%s %s export: %s s", model, exporter, ", ".join(f"{s:.1f}" for s in seconds))
    return rows


def _summary(report: Any) -> dict[str, Any]:
    data = report.to_dict()
    rows = []
    for pair in data["comparisons"]:
        logits = pair["outputs"]["logits"]
        rows.append({"batch_size": pair["batch_size"], "samples": data["inputs"]["samples"],
                     "max_abs": logits["max_abs"], "max_error": logits["max_error"], "mean_abs": logits["mean_abs"],
                     "cosine": logits["cosine"], "top1_agreement": logits["top1_agreement"],
                     "top5_agreement": logits["top5_agreement"], "accuracy": pair["accuracy"],
                     "passed": pair["passed"]})
    return {"passed": data["passed"], "reference": data["reference"], "inputs": data["inputs"],
            "reference_accuracy": data["reference_accuracy"], "batches": rows, "tolerance": data["tolerance"],
            "notes": data["notes"]}


def train_digits(work: Path, epochs: int) -> Path | None:
    out = work / "resnet20"
    checkpoint = out / "best.safetensors"
    if checkpoint.exists():
        return checkpoint
    command = [sys.executable, "-m", "resnet_deploy", "train", "--model", "resnet20", "--dataset", "digits",
               "--epochs", str(epochs), "--out", str(out)]
    log.info("training: %s", " ".join(command[2:]))
    result = subprocess.run(command, check=False)
    if result.returncode != 0 or not checkpoint.exists():
        log.error("training failed (exit %d); the trained-model row is left out", result.returncode)
        return None
    return checkpoint


def render(data: dict[str, Any]) -> str:
    env = data["environment"]
    versions = env.get("library_versions", {})
    lines = ["# Export and validation (torch vs onnxruntime CPU)", "",
             f"Machine: {env.get('cpu', {}).get('model', '?')}, {data['cores']} cores; torch {versions.get('torch')}, "
             f"onnx {versions.get('onnx')}, onnxruntime {versions.get('onnxruntime')}, onnxslim {versions.get('onnxslim')}.",
             f"Command: `{data['command']}`", "", "## Export time", "",
             "| model | input | exporter | seconds (min) | seconds (median) | first export in process | file MB |",
             "|---|---|---|---:|---:|---:|---:|"]
    for row in data["export_time"]:
        lines.append(f"| {row['model']} | {row['input_size']} | {row['exporter']} | {row['min_seconds']:.1f} | "
                     f"{row['median_seconds']:.1f} | {row['first_export_seconds']:.1f} (resnet18@64) | {row['file_mb']:.1f} |")
    lines += ["", "## Validation: PyTorch vs onnxruntime (FP32, CPU provider)", "",
              "| model | reference | inputs | batch | max abs | max error / RMS | mean abs | cosine | top-1 agree | top-5 agree | accuracy | pass |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for entry in data["validation"]:
        summary = entry["summary"]
        inputs = summary["inputs"]
        described = f"{inputs['dataset']} val ({inputs['samples']})" if inputs["kind"] == "dataset" else f"random ({inputs['samples']})"
        for row in summary["batches"]:
            accuracy = "-" if row["accuracy"] is None else f"{row['accuracy']:.2%}"
            lines.append(f"| {entry['model']} @{entry['input_size']} | {Path(summary['reference']['source']).name} | {described} | "
                         f"{row['batch_size']} | {row['max_abs']:.2e} | {row['max_error']:.2e} | {row['mean_abs']:.2e} | "
                         f"{row['cosine']:.9f} | {row['top1_agreement']:.2%} | {row['top5_agreement']:.2%} | {accuracy} | "
                         f"{'yes' if row['passed'] else 'NO'} |")
    notes = [f"- {entry['model']}: {note}" for entry in data["validation"] for note in entry["summary"]["notes"]]
    if notes:
        lines += ["", "Notes:", *notes]
    if data.get("trained_bar") is not None:
        bar = data["trained_bar"]
        lines += ["", f"Bar (trained digits model): max abs <= {MAX_ABS_BAR:g} and 100% top-1 agreement: "
                  f"**{'met' if bar['met'] else 'NOT met'}** (max abs {bar['max_abs']:.2e}, top-1 agreement "
                  f"{bar['top1_agreement']:.2%})."]
    else:
        lines += ["", "Trained model: not measured (training was unavailable or failed)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "resnet50", "resnet101"])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--export-model", default="resnet50")
    parser.add_argument("--export-repeats", type=int, default=2)
    parser.add_argument("--random", type=int, default=16, help="random inputs per validated model")
    parser.add_argument("--epochs", type=int, default=TRAIN_EPOCHS, help="digits training epochs for the trained row")
    parser.add_argument("--work", type=Path, default=Path("runs/export_validate"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import torch

    from resnet_deploy.compare import validate_onnx
    from resnet_deploy.export import export_onnx, read_onnx_metadata

    args.work.mkdir(parents=True, exist_ok=True)
    out_dir, env = results_dir()
    data: dict[str, Any] = {"command": "python benchmarks/export_validate.py " + " ".join(argv or sys.argv[1:]),
                            "cores": torch.get_num_threads(), "environment": env}
    data["export_time"] = time_exports(args.work, args.export_model, args.size, args.export_repeats)

    validation = []
    for model in args.models:
        path = args.work / f"{model}_{args.size}_dynamo.onnx"
        if not path.exists():
            export_onnx(path, model=model, input_size=args.size)
        report = validate_onnx(path, random=args.random, batch_sizes=(1, 8))
        validation.append({"model": model, "input_size": args.size, "summary": _summary(report)})
        log.info("%s: %s", model, "passed" if report else "FAILED")

    data["trained_bar"] = None
    checkpoint = train_digits(args.work, args.epochs)
    if checkpoint is not None:
        path = args.work / "resnet20_digits.onnx"
        export_onnx(path, checkpoint=checkpoint)
        report = validate_onnx(path, checkpoint=checkpoint, dataset="digits", batch_sizes=(1, 32))
        summary = _summary(report)
        validation.append({"model": "resnet20 (digits)", "input_size": read_onnx_metadata(path)["input_spec"]["height"],
                           "summary": summary, "checkpoint": str(checkpoint)})
        worst = max(row["max_abs"] for row in summary["batches"])
        agreement = min(row["top1_agreement"] for row in summary["batches"])
        data["trained_bar"] = {"max_abs": worst, "top1_agreement": agreement,
                               "met": worst <= MAX_ABS_BAR and agreement == 1.0}
    data["validation"] = validation
    write_json(out_dir / "export_validate.json", data)
    (out_dir / "export_validate.md").write_text(render(data), encoding="utf-8")
    log.info("wrote %s/export_validate.{json,md}", out_dir)
    return 0 if all(v["summary"]["passed"] for v in validation) else 1


if __name__ == "__main__":
    raise SystemExit(main())
