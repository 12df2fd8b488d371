"""Accuracy of FP16 and INT8 models against FP32 on a dataset's validation split.

    python benchmarks/quantize_accuracy.py [--models resnet20 resnet50] [--work DIR]
    python benchmarks/quantize_accuracy.py --dataset fashion-mnist \
        --checkpoint /tmp/resnet-deploy-fashion/resnet20-e3/best.safetensors

For each model: train on digits with the project's training loop (reused when
DIR/<model>/train/best.safetensors exists), or take `--checkpoint` (trained on `--dataset`,
e.g. by benchmarks/train_fashion.py: Fashion-MNIST's 10,000 test images), export FP32 ONNX, convert to FP16, quantize to INT8 in both layouts (tensorrt, cpu)
with each calibration method on 512 training images of the dataset, and evaluate every variant against
FP32 on the whole validation split with onnxruntime and, when installed, OpenVINO (the two
CPU runtimes, whose INT8 kernels depend on the CPU's instruction set). INT8 models for the
CPU are made for this CPU (cpu_isa.detect_isa); on a CPU without VNNI the same models made
for a VNNI CPU (8-bit weights: saturating sums here) are evaluated too. Writes
benchmarks/results/<device>/quantize_accuracy[.<dataset>].<isa>.{json,md}. The bars (issue 5): FP16 drop
<= 0.2 points, INT8 drop <= 1.0 point of top-1.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.suite_common import results_dir, write_json
from resnet_deploy import cpu_isa

log = logging.getLogger("benchmarks.quantize_accuracy")

FP16_BAR, INT8_BAR = 0.2, 1.0
# Training recipe per model (resnet_deploy.train.TrainConfig fields): genuinely trained models
# on 2 CPU cores. ResNet-50 (ImageNet layout at 32x32) starts with its residual branches
# zeroed (zero_init_residual) and a lower learning rate: at 0.1 its BatchNorm statistics
# lag far behind the weights in the first epochs.
RECIPES: dict[str, dict[str, Any]] = {
    "resnet20": {"epochs": 15},
    "resnet50": {"epochs": 15, "base_lr": 0.05, "model_kwargs": {"zero_init_residual": True}},
}


def train(model: str, work: Path) -> tuple[Path, dict[str, Any]]:
    """Train `model` on digits with the project's training loop (reused when the checkpoint exists)."""
    from resnet_deploy.train import TrainConfig
    from resnet_deploy.train import train as run_training

    out = work / model / "train"
    checkpoint = out / "best.safetensors"
    recipe = RECIPES.get(model, {"epochs": 10})
    if checkpoint.exists():
        from resnet_deploy.train.checkpoint import checkpoint_meta

        meta = checkpoint_meta(checkpoint)
        log.info("reusing %s", checkpoint)
        return checkpoint, {"recipe": recipe, "reused": True, "best_epoch": meta.epoch,
                            "best_val_top1": meta.metrics.get("val_top1"), "training": meta.training}
    log.info("training %s on digits: %s", model, recipe)
    result = run_training(TrainConfig(model=model, dataset="digits", out=out, seed=0, plot=False, **recipe),
                          progress=False)
    return result.best_checkpoint, {"recipe": recipe, "best_val_top1": result.best_val_top1,
                                    "best_epoch": result.best_epoch, "seconds": round(result.seconds, 1)}


def openvino_top1(paths: list[Path], x: Any, labels: Any, reference_top1: Any) -> list[tuple[float, float] | None]:
    """(top-1 %, top-1 agreement % with the FP32 model's onnxruntime predictions) per model on
    OpenVINO's CPU plugin; None per model when OpenVINO is not installed."""
    from resnet_deploy.optional import is_installed

    if not is_installed("openvino"):
        return [None] * len(paths)
    from resnet_deploy.backends.openvino_runner import OpenVinoRunner

    scores: list[tuple[float, float] | None] = []
    for path in paths:
        with OpenVinoRunner(path) as runner:
            name = runner.inputs()[0].name
            predictions = np.concatenate([next(iter(runner.infer({name: x[i:i + 64]}).values())).argmax(1)
                                          for i in range(0, len(x), 64)])
        scores.append((100.0 * float((predictions == labels).mean()), 100.0 * float((predictions == reference_top1).mean())))
    return scores


def qdq_graph_top1(paths: list[Path], x: Any, labels: Any) -> list[float]:
    """Top-1 % of each model under its Q/DQ graph's own arithmetic: onnxruntime with no graph
    optimization (float convolutions of the dequantized values, no integer kernels). This is
    what TensorRT computes for the TensorRT layout (up to rounding) on any machine, whereas
    the CPU runtimes' integer kernels depend on the CPU's instruction set."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    scores = []
    for path in paths:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        predictions = np.concatenate([session.run(None, {name: x[i:i + 64]})[0].argmax(1) for i in range(0, len(x), 64)])
        scores.append(100.0 * float((predictions == labels).mean()))
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet20", "resnet50"])
    parser.add_argument("--work", type=Path, default=Path("runs/quantize_accuracy"))
    parser.add_argument("--calib-samples", type=int, default=512)
    parser.add_argument("--methods", nargs="+", default=["max", "entropy", "percentile"])
    parser.add_argument("--dataset", default="digits", help="calibration and evaluation dataset")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="a checkpoint trained on --dataset (instead of training --models on digits)")
    args = parser.parse_args(argv)
    if (args.checkpoint is None) != (args.dataset == "digits"):
        parser.error("--checkpoint goes with a --dataset other than digits (the digits models are trained here)")
    dataset = args.dataset
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import onnxruntime as ort

    from resnet_deploy.data import eval_arrays
    from resnet_deploy.export import export_onnx
    from resnet_deploy.precision import convert_fp16, evaluate_accuracy, quantize_int8

    out_dir, env = results_dir()
    isa = cpu_isa.detect_isa()
    results: list[dict[str, Any]] = []
    models = [args.checkpoint.parent.name] if args.checkpoint else args.models
    for model in models:
        work = args.work / model
        work.mkdir(parents=True, exist_ok=True)
        if args.checkpoint:
            from resnet_deploy.train.checkpoint import checkpoint_meta

            checkpoint = args.checkpoint
            meta = checkpoint_meta(checkpoint)
            training = {"best_epoch": meta.epoch, "best_val_top1": meta.metrics.get("val_top1"),
                        "training": meta.training}
        else:
            checkpoint, training = train(model, args.work)
        fp32 = work / f"{model}.onnx"
        if not fp32.exists():
            export_onnx(fp32, checkpoint=checkpoint)
        variants: dict[str, tuple[Path, dict[str, Any]]] = {}
        started = time.perf_counter()
        fp16 = convert_fp16(fp32, work / f"{model}.fp16.onnx")
        variants["fp16"] = (fp16.output, {"precision": "fp16", "fp32_nodes": fp16.details["fp32_nodes"]})
        plan = [(target, method, None) for target in ("tensorrt", "cpu") for method in args.methods]
        if not isa.vnni:  # before the ISA remedy: CPU models with 8-bit weights, made for a VNNI CPU
            plan += [("cpu", method, "avx512_vnni") for method in args.methods]
        for target, method, for_isa in plan:
            suffix = "-for-vnni" if for_isa else ""
            result = quantize_int8(fp32, work / f"{model}.int8-{target}-{method}{suffix}.onnx", calib=dataset,
                                   samples=args.calib_samples, method=method, target=target, isa=for_isa,
                                   cache_path=work / f"calib-{method}.json")
            variants[f"int8-{target}-{method}{suffix}"] = (
                result.output, {"precision": "int8", "target": target, "method": method,
                                "made_for": result.details["cpu_isa"]["made_for"],
                                "weight_bits": result.details["cpu_isa"]["weight_bits"]})
        log.info("%s: %d variants in %.0f s", model, len(variants), time.perf_counter() - started)
        paths = [path for path, _ in variants.values()]
        report = evaluate_accuracy(paths, dataset=dataset, reference=fp32)
        x, labels = eval_arrays(dataset)
        session = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
        fp32_top1 = np.concatenate([session.run(None, {session.get_inputs()[0].name: x[i:i + 64]})[0].argmax(1)
                                    for i in range(0, len(x), 64)])
        on_openvino = openvino_top1(paths, x, labels, fp32_top1)
        graph_top1 = qdq_graph_top1(paths, x, labels)
        rows = []
        for (name, (_, info)), row, ov, exact in zip(variants.items(), report.models, on_openvino, graph_top1,
                                                     strict=True):
            bar = FP16_BAR if info["precision"] == "fp16" else INT8_BAR
            ov_drop = None if ov is None else report.reference.top1 - ov[0]
            exact_drop = report.reference.top1 - exact
            # The TensorRT layout is served by TensorRT: judged on its graph's own arithmetic.
            # Everything else is served by the CPU runtimes: judged on both.
            meets = (exact_drop <= bar if info.get("target") == "tensorrt"
                     else row.drop <= bar and (ov_drop is None or ov_drop <= bar))
            rows.append({"variant": name, **info, "top1": row.top1, "top5": row.top5,
                         "top1_agreement": row.top1_agreement, "cosine": row.cosine, "drop": row.drop,
                         "openvino_top1": None if ov is None else ov[0],
                         "openvino_agreement": None if ov is None else ov[1], "openvino_drop": ov_drop,
                         "qdq_graph_top1": exact, "qdq_graph_drop": exact_drop, "bar": bar, "meets_bar": meets})
        results.append({"model": model, "checkpoint": str(checkpoint), "training": training, "dataset": dataset, "split": "val",
                        "samples": report.samples, "fp32_top1": report.reference.top1,
                        "fp32_top5": report.reference.top5, "calibration_samples": args.calib_samples,
                        "variants": rows})
    data = {"benchmark": "quantize_accuracy", "environment": env, "results": results,
            "isa": {"name": isa.name, "vnni": isa.vnni, "flags": list(isa.flags), "source": isa.source},
            "bars": {"fp16_drop_points": FP16_BAR, "int8_drop_points": INT8_BAR},
            "command": "python benchmarks/quantize_accuracy.py " + (
                f"--dataset {dataset} --checkpoint {args.checkpoint}" if args.checkpoint
                else "--models " + " ".join(args.models))}
    stem = f"quantize_accuracy.{isa.name}" if dataset == "digits" else f"quantize_accuracy.{dataset}.{isa.name}"
    write_json(out_dir / f"{stem}.json", data)
    from resnet_deploy.render import Column, markdown_table

    cpu = env.get("cpu", {}) if isinstance(env.get("cpu"), dict) else {}
    lines = [f"# FP16/INT8 accuracy vs FP32 on {isa.name} ({dataset} validation split, onnxruntime and OpenVINO CPU)", "",
             f"Machine: {cpu.get('model')}, ISA {isa.name} ({', '.join(isa.flags) or 'none of the INT8 flags'}). "
             f"Command: `{data['command']}`; calibration: {args.calib_samples} training images. "
             f"Bars: FP16 drop <= {FP16_BAR}, INT8 drop <= {INT8_BAR} points: on both CPU runtimes for FP16 and "
             "the CPU layout; for the TensorRT layout, which TensorRT serves, on the Q/DQ graph's own arithmetic "
             "(onnxruntime without graph optimization: no integer kernels). `made for`: the CPU class the INT8 "
             "weights were made for (7-bit without VNNI, 8-bit with it; `gpu`: the TensorRT layout's 8-bit "
             "weights). Variants `-for-vnni` are the CPU models as a VNNI machine makes them, shown for "
             "comparison and not judged.", ""]
    columns = [Column("variant"), Column("made for"), Column("top-1 %", ".2f"), Column("top-5 %", ".2f"),
               Column("agreement %", ".2f"), Column("cosine", ".5f"), Column("drop (points)", "+.2f"),
               Column("OpenVINO top-1 %", ".2f"), Column("OpenVINO drop", "+.2f"), Column("Q/DQ graph drop", "+.2f"),
               Column("meets bar")]
    for entry in results:
        lines += [f"## {entry['model']}: FP32 top-1 {entry['fp32_top1']:.2f}% on {entry['samples']} images", "",
                  markdown_table(columns, [[r["variant"],
                                            f"{r['made_for']} ({r['weight_bits']}-bit)" if "made_for" in r else "-",
                                            r["top1"], r["top5"], r["top1_agreement"], r["cosine"], r["drop"],
                                            r["openvino_top1"], r["openvino_drop"], r["qdq_graph_drop"],
                                            ("yes" if r["meets_bar"] else "NO") if not r["variant"].endswith("-for-vnni")
                                            else "(not judged)"]
                                           for r in entry["variants"]]), ""]
    (out_dir / f"{stem}.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    # The variants made for another CPU are shown for comparison; the bars apply to the rest.
    judged = [r for e in results for r in e["variants"] if not r["variant"].endswith("-for-vnni")]
    return 0 if all(r["meets_bar"] for r in judged) else 1


if __name__ == "__main__":
    raise SystemExit(main())
