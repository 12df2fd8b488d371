"""`resnet-deploy profile`: where the time goes, per layer, on one runtime; two models (or two
runtimes) side by side."""

from __future__ import annotations

import json
from pathlib import Path

import click

from resnet_deploy.backends.registry import RUN_PRECISIONS, backend_names
from resnet_deploy.cli.output import echo_json
from resnet_deploy.cli.params import InputOrName, OutputFile, command


@command("profile")
@click.argument("model", type=InputOrName())
@click.argument("model2", type=InputOrName(), required=False)
@click.option("--backend", type=click.Choice(backend_names()), default=None,
              help="Runtime [default: ort-cpu for ONNX, tensorrt for plans, torch for checkpoints and names]. "
                   "Per-layer profilers: ort-cpu, ort-cuda, openvino, torch, tensorrt.")
@click.option("--backend2", type=click.Choice(backend_names()), default=None,
              help="Runtime for MODEL2 [default: --backend]; without MODEL2, profile MODEL on both runtimes.")
@click.option("--iterations", type=click.IntRange(min=1), default=50, show_default=True,
              help="Measured iterations (the median is reported).")
@click.option("--warmup", type=click.IntRange(min=0), default=5, show_default=True, help="Unmeasured iterations first.")
@click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True,
              help="Batch size (a fixed-batch model runs at its own).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Threads for CPU backends.")
@click.option("--precision", type=click.Choice(RUN_PRECISIONS), default=None,
              help="Run precision the backend computes an FP32 model in (bf16: openvino, torch); each layer's "
                   "precision column says what really ran.")
@click.option("--top", type=click.IntRange(min=0), default=25, show_default=True,
              help="Rows in the table: the slowest layers; 0 lists all in execution order.")
@click.option("--json", "as_json", is_flag=True, help="Print the profile as JSON.")
@click.option("--save-json", type=OutputFile(dir_okay=False), default=None, help="Write the JSON to this file.")
@click.option("--csv", "csv_path", type=OutputFile(dir_okay=False), default=None, help="Write one row per layer.")
@click.option("--plot", type=OutputFile(dir_okay=False), default=None, help="Write a PNG chart of the slowest layers.")
def profile(model: str, model2: str | None, backend: str | None, backend2: str | None, iterations: int, warmup: int,
            batch_size: int, threads: int | None, precision: str | None, top: int, as_json: bool, save_json: Path | None,
            csv_path: Path | None, plot: Path | None) -> None:
    """Time every layer of MODEL as the runtime really ran it: ONNX node(s), op, precision, median, share.

    \b
      resnet-deploy profile r50.onnx --backend openvino
      resnet-deploy profile r50.onnx r50.int8.onnx --backend openvino   # FP32 vs INT8, layer by layer
      resnet-deploy profile r50.onnx --backend ort-cpu --backend2 openvino
      resnet-deploy profile r50_int8.plan --save-json r50_int8.profile.json --plot r50_int8.png
    """
    from resnet_deploy.atomic import atomic_write_text
    from resnet_deploy.errors import InvalidInputError
    from resnet_deploy.profile import ProfileSettings, compare_profiles, profile_model
    from resnet_deploy.profile.report import (
        render_comparison,
        render_profile,
        save_chart,
        write_csv,
    )

    if model2 is None and backend2 is None:
        second = None
    else:
        second = (model2 or model, backend2 or backend)
        if second == (model, backend):
            raise InvalidInputError("MODEL2 on --backend2 is MODEL on --backend again; name another model or runtime")
    settings = ProfileSettings(iterations=iterations, warmup=warmup, batch_size=batch_size, threads=threads,
                               precision=precision)
    first = profile_model(model, backend=backend, settings=settings)
    result = first if second is None else compare_profiles(first, profile_model(second[0], backend=second[1],
                                                                                settings=settings))
    data = result.to_dict()
    if save_json is not None:
        atomic_write_text(save_json, json.dumps(data, indent=2) + "\n")
    if csv_path is not None:
        write_csv(result, csv_path)
    if plot is not None:
        save_chart(result, plot)
    if as_json:
        echo_json(data)
    elif second is None:
        click.echo(render_profile(first, top=top))
    else:
        from resnet_deploy.profile import ProfileComparison

        assert isinstance(result, ProfileComparison)
        click.echo(render_comparison(result, top=top))
