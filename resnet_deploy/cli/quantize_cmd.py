"""`resnet-deploy quantize`: an FP16, BF16, INT8 or FP8 (Q/DQ) ONNX model from an FP32 one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from resnet_deploy.cli.output import echo_fields, echo_json
from resnet_deploy.cli.params import FiniteFloat, InputPath, InputSize, OutputFile, command
from resnet_deploy.data.registry import data_dir_help, names_help

if TYPE_CHECKING:
    from resnet_deploy.compare.paired import PairedDrop
    from resnet_deploy.precision.sensitivity import FallbackSearch


def fallback_rows(search: FallbackSearch) -> list[tuple[str, object]]:
    """The --max-drop search for people: target, drops before/after with intervals, speed cost."""

    def drop(d: PairedDrop) -> str:
        return f"{d.drop:+.2f} points (95% CI {d.low:+.2f} to {d.high:+.2f}, {d.images:,} images)"

    rows: list[tuple[str, object]] = [
        ("max drop", f"{search.max_drop:g} points on {search.dataset}: {search.summary()}"),
        ("held-out drop", f"{search.holdout_before.drop:+.2f} -> {search.holdout_after.drop:+.2f} points "
                          f"({search.holdout_images:,} training images, never the test split)"),
        ("test drop before", drop(search.test_before)),
        ("test drop after", drop(search.test_after))]
    speed = search.speed
    if speed is not None:
        rows.append(("speed cost", f"{speed.before_ms:.2f} -> {speed.after_ms:.2f} ms median at batch "
                                   f"{speed.batch} on {speed.backend} (x{speed.ratio:.2f})"
                                   + (f"; {speed.note}" if speed.note else "")))
    rows += [("note", note) for note in search.notes]
    return rows


@command("quantize", param_aliases={"samples": "calib_samples", "calib": "calib_data", "cache_path": "calib_cache",
                               "output_path": "output", "isa": "cpu_isa", "dataset_dir": "data_dir"})
@click.argument("model", type=InputPath())
@click.option("--precision", type=click.Choice(["fp16", "bf16", "int8", "fp8"]), required=True,
              help="Target precision: fp16/bf16 mixed precision, int8 or fp8 (E4M3, TensorRT on compute capability "
                   ">= 8.9) Q/DQ from calibration.")
@click.option("-o", "--output", type=OutputFile(), default=None,
              help="Output model (default: MODEL with .fp16.onnx / .bf16.onnx / .int8.onnx / .fp8.onnx).")
@click.option("--io-dtype", type=click.Choice(["fp32", "fp16", "bf16"]), default="fp32", show_default=True,
              help="FP16/BF16 only: dtype of the graph's inputs and outputs (fp16 for --precision fp16, bf16 for bf16).")
@click.option("--calib-data", default=None,
              help=f"INT8/FP8: a dataset ({names_help()}), a .npy of normalized float32 "
                   "images (NCHW, or the model's layout), or 'random'. Random data, and 1-channel datasets for a 3-channel model (converted), are "
                   "for speed work only: a warning says so.")
@click.option("--data-dir", type=InputPath(), default=None, help=data_dir_help())
@click.option("--calib-samples", type=click.IntRange(min=1), default=None,
              help="INT8: calibration images (NVIDIA: about 500 for CNNs). Default: 512, or all the data holds "
                   "when fewer (with a warning); an explicit count the data cannot meet is refused.")
@click.option("--method", default="max", show_default=True, help="INT8/FP8 calibration: max, entropy or percentile.")
@click.option("--target", default="tensorrt", show_default=True,
              help="INT8 layout: tensorrt (signed symmetric, TensorRT Q/DQ placement) or cpu (uint8 activations).")
@click.option("--cpu-isa", default=None,
              help="INT8: the CPU the model must run on exactly (avx512_vnni, avx_vnni, avx512, avx2, other): "
                   "7-bit weights without VNNI. Default: this CPU for --target cpu, none (GPU) for tensorrt.")
@click.option("--calib-cache", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="INT8: calibration cache (default OUTPUT.calib.json); reused when model, data, method and samples match.")
@click.option("--exclude", multiple=True,
              help="INT8: keep these nodes in FP32 (repeatable): a node name, a glob over names ('node_Conv_34*') or an "
                   "op type (Add, Gemm).")
@click.option("--max-drop", type=FiniteFloat(min=0), default=None,
              help="INT8: keep the most sensitive layers in FP32 until the top-1 drop on held-out training images is "
                   "at most this many points; the test split reports the result (needs --dataset).")
@click.option("--dataset", default=None,
              help=f"--max-drop: the labelled dataset ({names_help()}) [default: --calib-data when it is one].")
@click.option("--search-images", type=click.IntRange(min=1), default=None,
              help="--max-drop: held-out training images the search judges on [default: 5000].")
@click.option("--input-size", type=InputSize(), default=None,
              help="INT8/FP8: HxW (or N) of the calibration images for a model whose height/width are dynamic.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def quantize(model: Path, precision: str, output: Path | None, io_dtype: str, calib_data: str | None,
             data_dir: Path | None, calib_samples: int | None, method: str, target: str, cpu_isa: str | None,
             calib_cache: Path | None, exclude: tuple[str, ...], max_drop: float | None, dataset: str | None,
             search_images: int | None, input_size: tuple[int, int] | None, as_json: bool) -> None:
    """Convert MODEL (FP32 ONNX) to a mixed-precision FP16/BF16 or an INT8/FP8 Q/DQ model.

    \b
      resnet-deploy quantize r20.onnx --precision int8 --calib-data fashion-mnist --exclude Gemm
      resnet-deploy quantize r20.onnx --precision int8 --calib-data fashion-mnist --method entropy --max-drop 0.5
    """
    from resnet_deploy.errors import InvalidInputError

    if precision != "int8" and (exclude or max_drop is not None):
        raise InvalidInputError("--exclude and --max-drop apply to --precision int8")
    if io_dtype != "fp32" and io_dtype != precision:
        raise InvalidInputError(f"--io-dtype {io_dtype} applies to --precision {io_dtype} only")
    if precision in ("int8", "fp8") and calib_data is None:
        raise InvalidInputError(f"--precision {precision} needs --calib-data (a dataset name or a .npy file)")
    if precision == "fp8" and (target != "tensorrt" or cpu_isa is not None):
        raise InvalidInputError("--precision fp8 has one layout, TensorRT's (GPUs of compute capability 8.9 or later): "
                                "--target and --cpu-isa apply to int8 only")
    if input_size is not None and precision not in ("int8", "fp8"):
        raise InvalidInputError("--input-size applies to --precision int8 and fp8 (calibration) only")
    if precision == "fp16":
        from resnet_deploy.precision.fp16 import convert_fp16

        result = convert_fp16(model, output, keep_io_types=io_dtype == "fp32")
    elif precision == "bf16":
        from resnet_deploy.precision.bf16 import convert_bf16

        result = convert_bf16(model, output, keep_io_types=io_dtype == "fp32")
    elif precision == "fp8":
        from resnet_deploy.precision.fp8 import quantize_fp8

        assert calib_data is not None
        result = quantize_fp8(model, output, calib=calib_data, data_dir=data_dir, samples=calib_samples, method=method,
                              cache_path=calib_cache, input_size=input_size)
    else:
        from resnet_deploy.precision.int8 import quantize_int8

        assert calib_data is not None
        from resnet_deploy.data.registry import DATASETS

        probe = None
        if max_drop is not None:
            from resnet_deploy.bench.int8_cost import speed_probe

            probe = speed_probe(note="timed on onnxruntime CPU; on a GPU TensorRT decides the real cost"
                                if target == "tensorrt" else "")
        labelled = dataset if dataset is not None else (calib_data if calib_data in DATASETS else None)
        result = quantize_int8(model, output, calib=calib_data, data_dir=data_dir, samples=calib_samples,
                               method=method, target=target, cache_path=calib_cache, isa=cpu_isa,
                               exclude=exclude, max_drop=max_drop, dataset=labelled, search_images=search_images,
                               speed_probe=probe, input_size=input_size)
    if as_json:
        echo_json(result.to_dict())
        return
    data = result.to_dict()
    rows: list[tuple[str, object]] = [("output", data["output"]), ("precision", data["precision"])]
    if precision in ("fp16", "bf16"):
        rows += [("io dtype", data["io_dtype"]), ("kept FP32", ", ".join(data["fp32_nodes"]) or "-")]
    elif precision == "fp8":
        calib = data["calibration"]
        rows += [("format", "E4M3 (FLOAT8E4M3FN), TensorRT Q/DQ placement"),
                 ("calibration", f"{calib['method']}, {calib['samples']} samples of {calib['data']}"),
                 ("opset", str(data["opset"])), ("needs", f"compute capability >= {data['min_compute_capability']}"),
                 ("cache", f"{calib['cache']} ({'reused' if calib['cache_hit'] else 'written'})")]
    else:
        calib = data["calibration"]
        source = calib["data"] + (f" ({calib['conversion']})" if calib.get("conversion") else "")
        if not calib.get("representative", True):
            source += "; not representative: speed work only"
        rows += [("target", data["target"]), ("calibration", f"{calib['method']}, {calib['samples']} samples of {source}"),
                 ("made for", f"{data['cpu_isa']['made_for']} ({data['cpu_isa']['weight_bits']}-bit weights)"),
                 ("cache", f"{calib['cache']} ({'reused' if calib['cache_hit'] else 'written'})"),
                 ("kept FP32", ", ".join(data["excluded"]) or "-")]
        if result.fallback is not None:
            rows += fallback_rows(result.fallback)
    rows += [("sidecar", data["sidecar"]), ("seconds", f"{data['seconds']:.1f}")]
    echo_fields(rows)
