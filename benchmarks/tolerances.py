"""The measurements behind validate's default tolerances (resnet_deploy.compare.stats).

    python benchmarks/tolerances.py [--models resnet20 resnet50] [--work DIR]

For each trained model (ResNet-20 and ResNet-50 trained on digits with the project's training
loop; reused from DIR when present, see benchmarks/quantize_accuracy.py): export FP32, convert to
FP16, quantize to INT8 in both layouts (max calibration, 512 training images), run every
variant on onnxruntime CPU and OpenVINO against the PyTorch checkpoint on the 360 validation
images, and record what the comparison measures: max error relative to the reference's RMS,
cosine, top-1 and top-5 agreement. Also an untrained ResNet-50 at 224x224 on 16 random inputs
(FP32 and FP16; its INT8 agreement is recorded to show why an untrained model is no test of
INT8), and two deliberately damaged models (FP16 with one convolution's weights x100, INT8
with one weight scale x100) that the defaults must fail.

Writes benchmarks/results/<device>/tolerances.{json,md} with the CPU and its instruction set.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.quantize_accuracy import train
from benchmarks.suite_common import random_calibration, results_dir, write_json

log = logging.getLogger("benchmarks.tolerances")


def damage(source: Path, target: Path, kind: str) -> Path:
    """A copy of `source` with one thing broken: `weights` scales one convolution's weights
    x100 (FP16/FP32), `scale` multiplies one weight DequantizeLinear scale by 100 (INT8)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    inits = {t.name: t for t in model.graph.initializer}
    if kind == "scale":
        node = next(n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits
                    and inits[n.input[0]].data_type == onnx.TensorProto.INT8 and len(inits[n.input[0]].dims) == 4)
        name = node.input[1]
    else:
        convs = [n for n in model.graph.node if n.op_type == "Conv" and n.input[1] in inits]
        name = convs[len(convs) // 2].input[1]
    tensor = inits[name]
    array = numpy_helper.to_array(tensor)
    tensor.CopyFrom(numpy_helper.from_array((array * 100).astype(array.dtype), name))
    onnx.save(model, str(target))
    return target


def measure(model: Path, reference: str, backend: str, **inputs: Any) -> dict[str, Any]:
    from resnet_deploy.compare import validate

    report = validate(model, backend=backend, reference=reference, batch_sizes=(32,), **inputs)
    pair = report.comparisons[0]
    c = pair.outputs["logits"]
    return {"model": model.name, "backend": backend, "precision": report.precision, "samples": report.inputs["samples"],
            "max_error": c.max_error, "cosine": c.cosine, "top1_agreement": c.top1_agreement,
            "top5_agreement": c.top5_agreement, "accuracy": pair.accuracy, "reference_accuracy": report.reference_accuracy,
            "passes_defaults": bool(report), "failures": report.failures()}


def variants(fp32: Path, calib: str, samples: int) -> dict[str, Path]:
    from resnet_deploy.precision import convert_fp16, quantize_int8

    paths = {"fp32": fp32, "fp16": convert_fp16(fp32, fp32.with_name(fp32.stem + ".fp16.onnx")).output}
    for target in ("tensorrt", "cpu"):
        paths[f"int8-{target}"] = quantize_int8(fp32, fp32.with_name(f"{fp32.stem}.int8-{target}.onnx"), calib=calib,
                                                samples=samples, target=target).output
    return paths


def run(args: argparse.Namespace) -> dict[str, Any]:
    from resnet_deploy.backends.registry import unavailable_reason
    from resnet_deploy.export import export_onnx

    backends = [b for b in ("ort-cpu", "openvino") if unavailable_reason(b) is None]
    rows: list[dict[str, Any]] = []
    for name in args.models:
        checkpoint, _ = train(name, args.work)
        fp32 = args.work / name / f"{name}_digits.onnx"
        export_onnx(fp32, checkpoint=checkpoint)
        paths = variants(fp32, "digits", 512)
        paths["fp16-damaged"] = damage(paths["fp16"], fp32.with_name(fp32.stem + ".fp16-damaged.onnx"), "weights")
        paths["int8-damaged"] = damage(paths["int8-tensorrt"], fp32.with_name(fp32.stem + ".int8-damaged.onnx"), "scale")
        for variant, path in paths.items():
            for backend in backends:
                row = measure(path, str(checkpoint), backend, dataset="digits")
                rows.append({"case": f"{name} trained on digits", "variant": variant, **row})
                log.info("%s %s %s: %s", name, variant, backend, row)
    untrained = args.work / "resnet50_224.onnx"
    if not untrained.exists():
        export_onnx(untrained, model="resnet50", input_size=224)
    calib = random_calibration(args.work, 224, 32)
    paths = variants(untrained, str(calib), 32)
    for variant, path in paths.items():
        row = measure(path, "resnet50", "ort-cpu", random=16)
        rows.append({"case": "resnet50 untrained, 224x224, random inputs", "variant": variant, **row})
        log.info("untrained resnet50 %s: %s", variant, row)
    return {"rows": rows}


def render(data: dict[str, Any]) -> str:
    from resnet_deploy.compare import DEFAULT_TOLERANCES
    from resnet_deploy.render import Column, markdown_table

    lines = ["## Validation tolerances: what the comparisons measured", "",
             f"Machine: {data['machine']}. Command: `{data['command']}`.", "",
             "Defaults (resnet_deploy.compare.stats): " + "; ".join(
                 f"{p.upper()} max error {t.max_error:g} x RMS, cosine >= {t.min_cosine}, top-1 >= {t.min_top1:.1%}"
                 for p, t in DEFAULT_TOLERANCES.items()), ""]
    columns = [Column("case"), Column("variant"), Column("backend"), Column("max error / RMS", ".3g"),
               Column("cosine", ".6f"), Column("top-1 agree", ".2%"), Column("top-5 agree", ".2%"),
               Column("defaults")]
    lines.append(markdown_table(columns, [[r["case"], r["variant"], r["backend"], r["max_error"], r["cosine"],
                                           r["top1_agreement"], r["top5_agreement"],
                                           "pass" if r["passes_defaults"] else "FAIL"] for r in data["rows"]]))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["resnet20", "resnet50"])
    parser.add_argument("--work", type=Path, default=Path("runs/quantize_accuracy"))
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    out_dir, env = results_dir()
    from resnet_deploy.bench.report import machine_line

    data = {"command": "python benchmarks/tolerances.py " + " ".join(argv or sys.argv[1:]), **run(args)}
    data["machine"] = machine_line({"environment": env})
    write_json(out_dir / "tolerances.json", data)
    (out_dir / "tolerances.md").write_text(render(data), encoding="utf-8")
    log.info("wrote %s/tolerances.{json,md}", out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
