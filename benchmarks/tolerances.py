"""The measurements behind validate's default tolerances (resnet_deploy.compare.stats).

    python benchmarks/tolerances.py [--models resnet20 resnet50] [--work DIR] [--only bf16 fp8]

For each trained model (ResNet-20 and ResNet-50 trained on digits with the project's training
loop; reused from DIR when present, see benchmarks/quantize_accuracy.py): export FP32, convert to
FP16, quantize to INT8 in both layouts (max calibration, 512 training images), run every
variant on onnxruntime CPU and OpenVINO against the PyTorch checkpoint on the 360 validation
images, and record what the comparison measures: max error relative to the reference's RMS,
cosine, top-1 and top-5 agreement. Also an untrained ResNet-50 at 224x224 on 16 random inputs
(FP32 and FP16; its INT8 agreement is recorded to show why an untrained model is no test of
INT8), and two deliberately damaged models (FP16 with one convolution's weights x100, INT8
with one weight scale x100) that the defaults must fail.

BF16 and FP8: the BF16 graph (quantize --precision bf16) and the FP32 model run in BF16
(--precision bf16) on OpenVINO (onnxruntime's CPU provider has no BF16 convolution), the FP8
(E4M3) Q/DQ model on onnxruntime (and OpenVINO when it reads it), and a damaged copy of each
(BF16 graph: one convolution's weights x100; FP8: one weight scale x100). `--only bf16 fp8`
measures just those (and the FP32 rows they are read against) and writes
tolerances.bf16_fp8.<isa>.{json,md}: BF16 numerics depend on whether the CPU computes it.

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
from benchmarks.suite_common import machine, random_calibration, results_dir, write_json

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
                    and inits[n.input[0]].data_type in (onnx.TensorProto.INT8, onnx.TensorProto.FLOAT8E4M3FN)
                    and len(inits[n.input[0]].dims) == 4)
        name = node.input[1]
    else:
        convs = [n for n in model.graph.node if n.op_type == "Conv" and n.input[1] in inits]
        name = convs[len(convs) // 2].input[1]
    tensor = inits[name]
    array = numpy_helper.to_array(tensor)
    tensor.CopyFrom(numpy_helper.from_array((array * 100).astype(array.dtype), name))
    onnx.save(model, str(target))
    return target


def measure(model: Path, reference: str, backend: str, precision: str | None = None, **inputs: Any) -> dict[str, Any]:
    from resnet_deploy.compare import validate

    report = validate(model, backend=backend, reference=reference, batch_sizes=(32,), precision=precision, **inputs)
    pair = report.comparisons[0]
    c = pair.outputs["logits"]
    return {"model": model.name, "backend": backend, "precision": report.precision, "samples": report.inputs["samples"],
            "max_error": c.max_error, "cosine": c.cosine, "top1_agreement": c.top1_agreement,
            "top5_agreement": c.top5_agreement, "accuracy": pair.accuracy, "reference_accuracy": report.reference_accuracy,
            "passes_defaults": bool(report), "failures": report.failures()}


def variants(fp32: Path, calib: str, samples: int, only: tuple[str, ...] = ()) -> dict[str, Path]:
    from resnet_deploy.precision import convert_fp16, quantize_int8
    from resnet_deploy.precision.bf16 import convert_bf16
    from resnet_deploy.precision.fp8 import quantize_fp8

    paths = {"fp32": fp32}
    if not only:
        paths["fp16"] = convert_fp16(fp32, fp32.with_name(fp32.stem + ".fp16.onnx")).output
        for target in ("tensorrt", "cpu"):
            paths[f"int8-{target}"] = quantize_int8(fp32, fp32.with_name(f"{fp32.stem}.int8-{target}.onnx"),
                                                    calib=calib, samples=samples, target=target).output
    if not only or "bf16" in only:
        paths["bf16"] = convert_bf16(fp32, fp32.with_name(fp32.stem + ".bf16.onnx")).output
    if not only or "fp8" in only:
        paths["fp8"] = quantize_fp8(fp32, fp32.with_name(fp32.stem + ".fp8.onnx"), calib=calib, samples=samples).output
    return paths


# Which backends run which variant ("bf16-run": the FP32 model with --precision bf16), and
# which run precision they are asked for.
BF16_BACKENDS = ("openvino",)


def runs(variant: str, backends: list[str]) -> list[tuple[str, str | None]]:
    """(backend, run precision) pairs that measure `variant`."""
    if variant.startswith("bf16"):
        return [(b, None) for b in backends if b in BF16_BACKENDS]
    if variant == "fp32" and "openvino" in backends:
        return [(b, None) for b in backends] + [("openvino", "bf16")]  # the bf16-run row
    return [(b, None) for b in backends]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from resnet_deploy.backends.registry import unavailable_reason
    from resnet_deploy.export import export_onnx

    backends = [b for b in ("ort-cpu", "openvino") if unavailable_reason(b) is None]
    only = tuple(args.only or ())
    rows: list[dict[str, Any]] = []
    if args.epochs is not None:  # a shorter recipe (a busy machine); recorded in the command line
        from benchmarks import quantize_accuracy

        for recipe in quantize_accuracy.RECIPES.values():
            recipe["epochs"] = args.epochs
    for name in args.models:
        checkpoint, _ = train(name, args.work)
        fp32 = args.work / name / f"{name}_digits.onnx"
        if not fp32.exists():
            export_onnx(fp32, checkpoint=checkpoint)
        paths = variants(fp32, "digits", 512, only)
        if "fp16" in paths:
            paths["fp16-damaged"] = damage(paths["fp16"], fp32.with_name(fp32.stem + ".fp16-damaged.onnx"), "weights")
        if "int8-tensorrt" in paths:
            paths["int8-damaged"] = damage(paths["int8-tensorrt"], fp32.with_name(fp32.stem + ".int8-damaged.onnx"),
                                           "scale")
        if "bf16" in paths:
            paths["bf16-damaged"] = damage(paths["bf16"], fp32.with_name(fp32.stem + ".bf16-damaged.onnx"), "weights")
        if "fp8" in paths:
            paths["fp8-damaged"] = damage(paths["fp8"], fp32.with_name(fp32.stem + ".fp8-damaged.onnx"), "scale")
        for variant, path in paths.items():
            for backend, precision in runs(variant, backends):
                row = _measured(path, str(checkpoint), backend, precision, dataset="digits")
                rows.append({"case": f"{name} trained on digits",
                             "variant": f"{variant} (run {precision})" if precision else variant, **row})
                log.info("%s %s %s: %s", name, variant, backend, row)
    untrained = args.work / "resnet50_224.onnx"
    if not untrained.exists():
        export_onnx(untrained, model="resnet50", input_size=224)
    calib = random_calibration(args.work, 224, 32)
    paths = variants(untrained, str(calib), 32, only)
    for variant, path in paths.items():
        for backend, precision in runs(variant, ["ort-cpu", *(["openvino"] if "openvino" in backends else [])]):
            if backend == "openvino" and not (variant.startswith("bf16") or precision):
                continue  # this case measures the others on onnxruntime only
            row = _measured(path, "resnet50", backend, precision, random=16)
            rows.append({"case": "resnet50 untrained, 224x224, random inputs",
                         "variant": f"{variant} (run {precision})" if precision else variant, **row})
            log.info("untrained resnet50 %s: %s", variant, row)
    return {"rows": rows}


def _measured(path: Path, reference: str, backend: str, precision: str | None, **inputs: Any) -> dict[str, Any]:
    """measure(), or the one-line reason a runtime cannot run the variant (recorded, not raised)."""
    from resnet_deploy.errors import ResnetDeployError

    try:
        return measure(path, reference, backend, precision, **inputs)
    except (ResnetDeployError, RuntimeError) as exc:
        log.warning("%s on %s: %s", path.name, backend, exc)
        return {"model": path.name, "backend": backend, "error": str(exc).splitlines()[0][:200]}


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
    columns.insert(3, Column("ran"))
    lines.append(markdown_table(columns, [[r["case"], r["variant"], r["backend"], r.get("precision"), r.get("max_error"),
                                           r.get("cosine"), r.get("top1_agreement"), r.get("top5_agreement"),
                                           ("pass" if r["passes_defaults"] else "FAIL") if "error" not in r
                                           else f"cannot run: {r['error']}"] for r in data["rows"]]))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["resnet20", "resnet50"])
    parser.add_argument("--work", type=Path, default=Path("runs/quantize_accuracy"))
    parser.add_argument("--epochs", type=int, default=None, help="train the digits models this many epochs "
                        "(default: benchmarks/quantize_accuracy.py's recipe, 15)")
    parser.add_argument("--only", nargs="+", choices=("bf16", "fp8"), default=None,
                        help="measure only these precisions (with their FP32 rows); a file of their own")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    out_dir, env = results_dir()
    data = {"command": "python benchmarks/tolerances.py " + " ".join(argv or sys.argv[1:]), **run(args)}
    data["machine"] = machine(env)
    from resnet_deploy.cpu_isa import detect_isa

    isa = detect_isa()
    data["isa"] = {"name": isa.name, "bf16": isa.bf16, "label": isa.label}
    stem = f"tolerances.{'_'.join(args.only)}.{isa.label}" if args.only else "tolerances"
    write_json(out_dir / f"{stem}.json", data)
    (out_dir / f"{stem}.md").write_text(render(data), encoding="utf-8")
    log.info("wrote %s/%s.{json,md}", out_dir, stem)
    return 0


if __name__ == "__main__":
    sys.exit(main())
