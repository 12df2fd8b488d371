"""`resnet-deploy build`: an ONNX model -> a TensorRT plan and its sidecar."""

from __future__ import annotations

from pathlib import Path

import click

from resnet_deploy.cli.output import echo_fields, echo_json
from resnet_deploy.cli.params import InputPath, OutputFile, command
from resnet_deploy.data.registry import names_help


@command("build", param_aliases={"samples": "calib_samples"})
@click.argument("onnx_path", metavar="MODEL.onnx", type=InputPath())
@click.option("-o", "--output", type=OutputFile(), required=True, help="The plan to write (e.g. r50_fp16.plan).")
@click.option("--min-batch", type=click.IntRange(min=1), default=1, show_default=True, help="Smallest batch the plan accepts.")
@click.option("--opt-batch", type=click.IntRange(min=1), help="Batch TensorRT tunes for [default: 32, within the range].")
@click.option("--max-batch", type=click.IntRange(min=1), help="Largest batch the plan accepts [default: 256].")
@click.option("--shapes", help="Non-batch dims of dynamic inputs, e.g. input:3x224x224 (comma-separated for several).")
@click.option("--workspace", help="Workspace memory pool limit: 4G, 512M, or MiB.")
@click.option("--opt-level", type=click.IntRange(0, 5), help="Builder optimization level (TensorRT default 3).")
@click.option("--timing-cache", type=click.Path(path_type=Path, dir_okay=False), help="Timing cache file, loaded and saved so rebuilds are fast.")
@click.option("--version-compatible", is_flag=True, help="Plan runs on later TensorRT versions too (embeds the lean runtime).")
@click.option("--hardware-compatibility", type=click.Choice(["none", "ampere_plus", "same_compute_capability"]),
              help="Plan runs on other GPUs: ampere_plus (compute capability >= 8.0) or the same compute capability.")
@click.option("--precision", type=click.Choice(["fp16", "bf16", "int8", "fp8"]),
              help="Convert an FP32 model first (FP16/BF16 conversion, INT8/FP8 Q/DQ); without it the graph's precision "
                   "is used. BF16 needs compute capability 8.0, FP8 8.9.")
@click.option("--calib", help=f"INT8/FP8 calibration data for --precision int8/fp8: a dataset ({names_help()}) or images.npy.")
@click.option("--calib-samples", type=click.IntRange(min=1), default=512, show_default=True, help="INT8 calibration images.")
@click.option("--no-precision-check", is_flag=True,
              help="Write the plan even when most convolutions did not get the model's precision.")
@click.option("--device", type=click.IntRange(min=0), default=0, show_default=True, help="GPU index to build on.")
@click.option("--verbose", is_flag=True, help="Show TensorRT's verbose log.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def build(onnx_path: Path, output: Path, min_batch: int, opt_batch: int | None, max_batch: int | None,
          shapes: str | None, workspace: str | None, opt_level: int | None, timing_cache: Path | None,
          version_compatible: bool, hardware_compatibility: str | None, precision: str | None, calib: str | None,
          calib_samples: int, no_precision_check: bool, device: int, verbose: bool, as_json: bool) -> None:
    """Build a TensorRT plan from MODEL.onnx (strongly typed: FP32, FP16 or Q/DQ INT8 as the graph says).

    \b
      resnet-deploy build model.fp16.onnx -o r50_fp16.plan --min-batch 1 --opt-batch 32 --max-batch 256
      resnet-deploy build model.onnx -o r50_int8.plan --precision int8 --calib digits --timing-cache trt.cache
      resnet-deploy inspect r50_int8.plan     # per-layer precision and tactic
    """
    import logging

    from resnet_deploy.tensorrt.builder import build_engine

    if verbose:
        logging.getLogger("resnet_deploy").setLevel(logging.INFO)
    if precision and not as_json:
        click.echo(f"--precision {precision}: an FP32 model is converted first (see the result below)", err=True)
    result = build_engine(onnx_path, output, min_batch=min_batch, opt_batch=opt_batch, max_batch=max_batch, shapes=shapes,
                          workspace=workspace, opt_level=opt_level, timing_cache=timing_cache,
                          version_compatible=version_compatible, hardware_compatibility=hardware_compatibility,
                          precision=precision, calib=calib, calib_samples=calib_samples, verbose=verbose,
                          check_precision=not no_precision_check, device=device)
    if as_json:
        echo_json(result.to_dict())
        return
    profile = next(iter(result.profile.values()))
    fields: list[tuple[str, object]] = [("plan", result.plan), ("precision", result.precision)]
    if result.precision_step:
        fields.append(("precision step", f"{result.precision_step['ran']} wrote {result.precision_step['to']}"))
    fields += [("batch", f"{profile.min[0]}..{profile.max[0]}, tuned for {profile.opt[0]}"),
               ("TensorRT", result.tensorrt_version), ("GPU", result.gpu.get("name")),
               ("seconds", f"{result.build_seconds:.1f}"), ("precision check", result.check.message()),
               ("per-layer report", f"resnet-deploy inspect {result.plan}")]
    echo_fields(fields)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
