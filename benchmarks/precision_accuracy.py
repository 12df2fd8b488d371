"""Top-1 of every precision against FP32 on real data: FP16, BF16, INT8 and FP8 side by side.

    python benchmarks/precision_accuracy.py --checkpoint runs/r20/best.safetensors \
        --dataset mnist --data-dir /usr/share/datasets/fashion-mnist [--calib-samples 512]

From one trained checkpoint: export FP32, then `quantize` to FP16, BF16, INT8 (TensorRT and CPU
layouts) and FP8 (E4M3, TensorRT layout), calibrated on `--calib-samples` images of the
dataset's training split (max), and `accuracy` of each against the FP32 model on the whole
validation split (Fashion-MNIST: the 10,000 test images), each on a CPU runtime that runs it:
onnxruntime for FP32/FP16/INT8/FP8, OpenVINO for the BF16 graph and for the FP32 model with
`--precision bf16` (onnxruntime's CPU provider has no BF16 convolution). Each row names the
precision that really ran. Writes benchmarks/results/<device>/precision_accuracy.<isa>.{json,md}
with the CPU (INT8 numerics depend on VNNI, BF16 on native BF16) and the checkpoint's training.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.suite_common import machine, machine_header, results_dir, write_json
from resnet_deploy import cpu_isa
from resnet_deploy.render import Column, markdown_table

log = logging.getLogger("benchmarks.precision_accuracy")


def make_variants(fp32: Path, calib: str, data_dir: Path | None, samples: int) -> dict[str, Path]:
    from resnet_deploy.precision import convert_fp16, quantize_int8
    from resnet_deploy.precision.bf16 import convert_bf16
    from resnet_deploy.precision.fp8 import quantize_fp8

    def beside(tag: str) -> Path:
        return fp32.with_name(f"{fp32.stem}.{tag}.onnx")

    cache = fp32.with_name(fp32.stem + ".calib.json")  # one calibration serves INT8 and FP8
    return {
        "fp16": convert_fp16(fp32, beside("fp16")).output,
        "bf16": convert_bf16(fp32, beside("bf16")).output,
        "int8-tensorrt": quantize_int8(fp32, beside("int8-tensorrt"), calib=calib, data_dir=data_dir, samples=samples,
                                       target="tensorrt", cache_path=cache).output,
        "int8-cpu": quantize_int8(fp32, beside("int8-cpu"), calib=calib, data_dir=data_dir, samples=samples,
                                  target="cpu", cache_path=cache).output,
        "fp8": quantize_fp8(fp32, beside("fp8"), calib=calib, data_dir=data_dir, samples=samples,
                            cache_path=cache).output,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from resnet_deploy.backends.registry import unavailable_reason
    from resnet_deploy.export import export_onnx
    from resnet_deploy.precision.accuracy import evaluate_accuracy
    from resnet_deploy.train.checkpoint import checkpoint_meta

    args.work.mkdir(parents=True, exist_ok=True)
    fp32 = args.work / f"{args.checkpoint.stem}.onnx"
    if not fp32.exists():
        export_onnx(fp32, checkpoint=args.checkpoint)
    paths = make_variants(fp32, args.dataset, args.data_dir, args.calib_samples)
    common = {"dataset": args.dataset, "data_dir": args.data_dir, "reference": fp32, "threads": args.threads,
              "limit": args.limit, "record": False}
    reports = [evaluate_accuracy([paths["fp16"], paths["int8-tensorrt"], paths["int8-cpu"], paths["fp8"]],
                                 backend="ort-cpu", **common)]
    if unavailable_reason("openvino") is None:
        reports.append(evaluate_accuracy([paths["bf16"]], backend="openvino", reference_backend="ort-cpu", **common))
        reports.append(evaluate_accuracy([fp32], backend="openvino", reference_backend="ort-cpu", precision="bf16",
                                         **common))
    variant_of = {str(path): name for name, path in {"fp32": fp32, **paths}.items()}
    first = reports[0]
    rows = [{"variant": "fp32", "backend": first.reference.backend, "precision": "fp32",
             "top1": first.reference.top1, "top5": first.reference.top5, "drop": 0.0, "agreement": 100.0,
             "max_drop": None, "passed": True}]
    for report in reports:
        for model in report.models:
            variant = variant_of.get(model.model, Path(model.model).name)
            if model.backend == "openvino" and variant == "fp32":
                variant = "fp32 model, run bf16"
            rows.append({"variant": variant, "backend": model.backend, "precision": model.precision,
                         "top1": model.top1, "top5": model.top5, "drop": model.drop, "agreement": model.top1_agreement,
                         "cosine": model.cosine, "max_drop": model.max_drop, "passed": model.passed})
    meta = checkpoint_meta(args.checkpoint)
    return {"rows": rows, "samples": first.samples, "dataset": first.dataset, "split": first.split,
            "checkpoint": {"path": str(args.checkpoint), "architecture": meta.architecture.model_dump(),
                           "training": meta.training, "metrics": meta.metrics, "epoch": meta.epoch},
            "calibration": f"{args.calib_samples} images of the training split, max"}


def render(data: dict[str, Any]) -> str:
    lines = [f"# Top-1 by precision: {data['checkpoint']['architecture'].get('name') if data['checkpoint'].get('architecture') else '?'} "
             f"on {data['dataset']} ({data['split']}, {data['samples']} images)", "",
             f"{machine_header(data)}. Command: `{data['command']}`. "
             f"Checkpoint: {data['checkpoint']['path']} (epoch {data['checkpoint'].get('epoch')}); calibration: "
             f"{data['calibration']}.", "",
             markdown_table([Column("variant"), Column("backend"), Column("ran"), Column("top-1 %", ".2f"),
                             Column("top-5 %", ".2f"), Column("agreement %", ".2f"), Column("drop (points)", "+.2f"),
                             Column("default limit", ".1f"), Column("result")],
                            [[r["variant"], r["backend"], r["precision"], r["top1"], r["top5"], r["agreement"],
                              r["drop"], r["max_drop"], "ok" if r["passed"] else "FAIL"] for r in data["rows"]])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--calib-samples", type=int, default=512)
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N validation images")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("runs/precision_accuracy"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out_dir, env = results_dir()
    isa = cpu_isa.detect_isa()
    data = {"benchmark": "precision_accuracy", **run(args), "machine": machine(env),
            "isa": {"name": isa.name, "vnni": isa.vnni, "bf16": isa.bf16, "label": isa.label},
            "command": "python benchmarks/precision_accuracy.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    stem = f"precision_accuracy.{isa.label}"
    write_json(out_dir / f"{stem}.json", data)
    (out_dir / f"{stem}.md").write_text(render(data), encoding="utf-8")
    print(render(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
