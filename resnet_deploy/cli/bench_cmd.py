"""`resnet-deploy bench`: latency and throughput over batch sizes, one or several backends
and artifacts side by side."""

from __future__ import annotations

from pathlib import Path

import click

from resnet_deploy.backends.registry import RUN_PRECISIONS, backend_names
from resnet_deploy.cli.output import echo_json
from resnet_deploy.cli.params import (
    FiniteFloat,
    InputPath,
    InputSize,
    OutputFile,
    OutputFolder,
    command,
)


@command("bench")
@click.option("--engine", "engines", type=InputPath(), multiple=True, help="TensorRT plan (backend tensorrt); repeat for several.")
@click.option("--onnx", "onnx_models", type=InputPath(), multiple=True,
              help="ONNX model (backends ort-cpu, ort-cuda, ort-trt, openvino); repeat for several.")
@click.option("--checkpoint", "checkpoints", type=InputPath(), multiple=True,
              help="Checkpoint (.safetensors) for torch backends; repeat for several.")
@click.option("--model", "models", multiple=True,
              help="Registry model name for torch backends without a checkpoint (e.g. resnet50); repeat for several.")
@click.option("--backend", "backends", multiple=True,
              type=click.Choice(backend_names()),
              help="Backend to time; repeat to compare several side by side. Each runs every artifact of its kind.")
@click.option("--batch-sizes", help="e.g. 1,8,32 or 1-256 (powers of two). Default: powers of two within the artifact's profile.")
@click.option("--warmup", default="0.5s", show_default=True, help="Warm-up per batch size: iterations (10) or seconds (2s).")
@click.option("--iterations", type=click.IntRange(min=1), help="Measured iterations per batch size (with --duration: both must be met).")
@click.option("--duration", type=FiniteFloat(min=0, min_open=True),
              help="Measured seconds per batch size, at least 30 iterations [default: 3 when --iterations is not given].")
@click.option("--threads", type=click.IntRange(min=1), help="Intra-op threads for CPU backends.")
@click.option("--concurrency", help="Callers in flight at once on CPU backends, e.g. 1,2,4 (benchmark_app's async "
              "requests, onnxruntime_perf_test -c): throughput and latency per concurrency.  [default: 1]")
@click.option("--streams", type=click.IntRange(min=1), default=1, show_default=True, help="Concurrent contexts/streams (GPU backends).")
@click.option("--cuda-graph", is_flag=True, help="Launch the compute as a captured CUDA graph (GPU backends).")
@click.option("--no-data-transfers", is_flag=True, help="Device-resident inputs: no H2D/D2H copies in the timed loop.")
@click.option("--percentiles", default="90,95,99", show_default=True, help="Latency percentiles to report (0..100).")
@click.option("--input-size", type=InputSize(), default=None, help="HxW (or N) for models with dynamic height/width.")
@click.option("--precision", type=click.Choice(RUN_PRECISIONS),
              help="Compute an FP32 model in this precision: torch autocast (fp16 on CUDA only), OpenVINO's "
                   "inference precision (fp32, bf16). Results name the precision that really ran.")
@click.option("--channels-last", is_flag=True, help="Torch backends: channels_last memory format.")
@click.option("--device", "torch_device", help="Torch backends: cpu or cuda[:N].")
@click.option("--cv-threshold", type=FiniteFloat(min=0, min_open=True), default=0.10, show_default=True, help="Warn when std/mean latency exceeds this.")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON for programs (no progress display).")
@click.option("--out", "out_dir", type=OutputFolder(), help="Write bench.json, .csv, .md and PNG plots into this folder.")
@click.option("--save-json", type=OutputFile(), help="Write the JSON result to this file.")
@click.option("--csv", "csv_path", type=OutputFile(), help="Write a CSV (one row per backend and batch).")
@click.option("--markdown", "md_path", type=OutputFile(), help="Write a Markdown table.")
@click.option("--plots", "plot_dir", type=OutputFolder(), help="Write throughput.png and latency.png here.")
def bench(engines: tuple[Path, ...], onnx_models: tuple[Path, ...], checkpoints: tuple[Path, ...], models: tuple[str, ...],
          backends: tuple[str, ...], batch_sizes: str | None, warmup: str, iterations: int | None,
          duration: float | None, threads: int | None, concurrency: str | None, streams: int, cuda_graph: bool,
          no_data_transfers: bool, percentiles: str, input_size: tuple[int, int] | None, precision: str | None,
          channels_last: bool, torch_device: str | None, cv_threshold: float, as_json: bool,
          out_dir: Path | None, save_json: Path | None, csv_path: Path | None, md_path: Path | None,
          plot_dir: Path | None) -> None:
    """Measure latency (min/mean/median/percentiles/max) and throughput per batch size.

    Every backend, artifact, output and requested batch size is checked before anything is
    timed. Progress (point, iterations, time left) goes to stderr.

    \b
      resnet-deploy bench --engine r50_fp16.plan
      resnet-deploy bench --onnx r50.onnx --onnx r50.int8-cpu.onnx --backend ort-cpu --backend openvino --batch-sizes 1,8
      resnet-deploy bench --model resnet50 --backend torch --channels-last --duration 5
      resnet-deploy bench --onnx r50.onnx --backend openvino --precision bf16
    """
    from resnet_deploy.backends.registry import RunOptions
    from resnet_deploy.bench import (
        BenchConfig,
        Warmup,
        parse_batch_sizes,
        parse_concurrency,
        parse_percentiles,
        run_benchmark,
    )
    from resnet_deploy.bench import report as rep
    from resnet_deploy.bench.plan import Source, plan_specs
    from resnet_deploy.cli.progress import bench_progress

    sources = [*map(Source, engines), *map(Source, onnx_models), *map(Source, checkpoints), *map(Source, models)]
    options = RunOptions(precision=precision, channels_last=channels_last, device=torch_device)
    specs = plan_specs(sources, backends, options=options)
    config = BenchConfig(backends=specs, batch_sizes=parse_batch_sizes(batch_sizes), warmup=Warmup.parse(warmup),
                         iterations=iterations, duration_s=duration if duration is not None else (None if iterations else 3.0),
                         threads=threads, streams=streams, concurrency=parse_concurrency(concurrency),
                         cuda_graph=cuda_graph, no_data_transfers=no_data_transfers,
                         percentiles=parse_percentiles(percentiles), input_size=input_size,
                         cv_threshold=cv_threshold)
    result = run_benchmark(config, progress=bench_progress(quiet=as_json))
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        rep.save(result, json_path=out_dir / "bench.json", csv_path=out_dir / "bench.csv",
                 markdown_path=out_dir / "bench.md", plot_dir=out_dir)
    rep.save(result, json_path=save_json, csv_path=csv_path, markdown_path=md_path, plot_dir=plot_dir)
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(rep.render_table(result))
