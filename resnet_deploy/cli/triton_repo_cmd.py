"""`resnet-deploy triton-repo`: a Triton model repository from ONNX models and TensorRT plans."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from resnet_deploy.cli.output import echo_json
from resnet_deploy.cli.params import FiniteFloat, InputPath, OutputFolder, command


def _summary(result_models: list, echo: Callable[[str], None]) -> None:
    from resnet_deploy.render import Column, render_table

    rows = [[m.name, m.backend, m.max_batch_size, ",".join(map(str, m.preferred_batch_sizes)) or None,
             m.max_queue_delay_us, m.instances, m.kind, m.labels or None] for m in result_models]
    echo(render_table([Column("model"), Column("backend"), Column("max batch", ",d"), Column("preferred", align="right"),
                       Column("queue delay us", ",d"), Column("instances", ",d"), Column("kind"), Column("labels", ",d")],
                      rows))


TRITON_BACKENDS = ["onnxruntime", "openvino"]


def _deprecated_backend(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """`--backend` here once meant a Triton backend, everywhere else one of ours: the old
    spelling still works, with one line saying so."""
    if value is not None:
        click.echo("warning: triton-repo --backend is deprecated; use --triton-backend (a Triton backend, not one "
                   "of resnet-deploy's)", err=True)
    return value


@command("triton-repo", param_aliases={"labels": "no_labels", "backend": "triton_backend"})
@click.argument("artifacts", metavar="ARTIFACT...", nargs=-1, required=True, type=InputPath())
@click.option("-o", "--output", type=OutputFolder(), required=True,
              help="The model repository folder (created if only it is missing).")
@click.option("--triton-backend", type=click.Choice(TRITON_BACKENDS),
              help="Triton backend for ONNX models [default: onnxruntime]; plans always use tensorrt.")
@click.option("--backend", "old_backend", type=click.Choice(TRITON_BACKENDS), hidden=True,
              callback=_deprecated_backend)
@click.option("--max-batch", type=click.IntRange(min=1), help="max_batch_size [default: the plan's profile maximum; 32 for dynamic ONNX].")
@click.option("--instances", type=click.IntRange(min=1), default=1, show_default=True, help="Model instances (instance_group count).")
@click.option("--kind", type=click.Choice(["gpu", "cpu"]),
              help="Instance kind [default: gpu for plans and --trt-ep, cpu otherwise].")
@click.option("--trt-ep", is_flag=True, help="onnxruntime on GPU: add the TensorRT execution accelerator "
              "(precision_mode from the graph's precision).")
@click.option("--max-queue-delay-us", type=click.IntRange(min=0), help="Dynamic batcher queue delay [default: from --bench, else Triton's 0].")
@click.option("--bench", type=InputPath(), help="A bench result (bench --save-json) to choose the "
              "preferred batch and queue delay from; needs --latency-budget-ms.")
@click.option("--latency-budget-ms", type=FiniteFloat(min=0, min_open=True), help="Per-request latency budget: the preferred batch is the largest "
              "measured batch whose p99 fits it; the queue delay is what the budget leaves.")
@click.option("--mlperf", "mlperf_result", type=InputPath(), help="An mlperf --find-peak result (mlperf.json): "
              "the batching that held the peak Server load within MLPerf's latency bound.")
@click.option("--name", help="Model name (one artifact only) [default: the file name without its suffix].")
@click.option("--no-labels", is_flag=True, help="Do not write labels.txt from the artifact's class names.")
@click.option("--replace", is_flag=True, help="Replace model folders that already exist (each atomically).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def triton_repo(artifacts: tuple[Path, ...], output: Path, triton_backend: str | None, old_backend: str | None,
                max_batch: int | None, instances: int,
                kind: str | None, trt_ep: bool, max_queue_delay_us: int | None, bench: Path | None,
                latency_budget_ms: float | None, mlperf_result: Path | None, name: str | None, no_labels: bool, replace: bool,
                as_json: bool) -> None:
    """Write a Triton model repository: one model per ONNX model or TensorRT plan, configured
    from the artifact (names, dims, data types, batch range, class labels) and validated
    against Triton's own ModelConfig.

    \b
      resnet-deploy triton-repo r50_fp16.plan r50.onnx -o repo
      resnet-deploy triton-repo r50_fp16.plan -o repo --bench bench.json --latency-budget-ms 20 --instances 2
      docker run --gpus all -p8000:8000 -p8001:8001 -p8002:8002 -v $PWD/repo:/models \\
          nvcr.io/nvidia/tritonserver:<yy.mm>-py3 tritonserver --model-repository=/models
    """
    from resnet_deploy.serving.triton_repo import RepoOptions, build_triton_repo

    if triton_backend is not None and old_backend is not None and triton_backend != old_backend:
        raise click.UsageError(f"--triton-backend {triton_backend} and --backend {old_backend} disagree; give "
                               "--triton-backend only")
    options = RepoOptions(backend=triton_backend or old_backend, max_batch=max_batch, instances=instances, kind=kind, trt_ep=trt_ep,
                          max_queue_delay_us=max_queue_delay_us, bench=bench, latency_budget_ms=latency_budget_ms,
                          mlperf=mlperf_result, name=name, labels=not no_labels, replace=replace)
    result = build_triton_repo(list(artifacts), output, options)
    if as_json:
        echo_json(result.to_dict())
        return
    click.echo(f"wrote {len(result.models)} model(s) into {result.repository} (each config.pbtxt checked against "
               "Triton's ModelConfig and its artifact)")
    _summary(result.models, click.echo)
    for model in result.models:
        if model.batching is not None:
            click.echo(f"{model.name}: preferred {model.batching.describe()}")
    click.echo(f"serve it: docker run --gpus all -p8000:8000 -p8001:8001 -p8002:8002 -v {result.repository.resolve()}:/models "
               "nvcr.io/nvidia/tritonserver:<yy.mm>-py3 tritonserver --model-repository=/models  (docs/serving.md)")
