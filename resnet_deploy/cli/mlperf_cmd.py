"""`resnet-deploy mlperf`: MLPerf LoadGen's scenarios on any backend, or through Triton."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from resnet_deploy.backends.registry import backend_names
from resnet_deploy.cli.output import echo_json
from resnet_deploy.cli.params import FiniteFloat, InputOrName, InputPath, OutputFolder, command
from resnet_deploy.data.registry import data_dir_help, names_help


@command("mlperf", param_aliases={"from_bench": "from_bench", "user_conf": "user_conf"})
@click.argument("model", metavar="MODEL", type=InputOrName())
@click.option("-o", "--output", type=OutputFolder(), required=True,
              help="Results folder: LoadGen's logs in MLPerf's layout, user.conf, val_map.txt, mlperf.json, summary.txt.")
@click.option("--scenario", default="Offline", show_default=True,
              help="SingleStream, MultiStream, Server, Offline, a comma list, or all.")
@click.option("--mode", type=click.Choice(["performance", "accuracy", "both"]), default="performance", show_default=True)
@click.option("--backend", type=click.Choice(backend_names()),
              help="In-process runtime [default: the artifact's natural one: ort-cpu, tensorrt, torch].")
@click.option("--server", help="A Triton server to load instead: HOST:PORT (gRPC, localhost:8001) or "
              "http://HOST:PORT; MODEL is then the model's name on the server.")
@click.option("--dataset", help=f"{names_help()}, or an .npy/.npz of "
              "images [default: random images, performance only].")
@click.option("--data-dir", type=InputPath(), help=data_dir_help())
@click.option("--val-map", type=InputPath(), help="MLPerf's ImageNet layout: a val_map.txt (`file label` lines) "
              "beside the images; they get the torchvision evaluation transform.")
@click.option("--limit", type=click.IntRange(min=1), help="Use only the first N samples (a fixed subset for datasets).")
@click.option("--random", "random_count", type=click.IntRange(min=1), help="N random images (performance only) [default 1024].")
@click.option("--user-conf", type=InputPath(), help="Your user.conf; applied after LoadGen's ResNet-50 rules.")
@click.option("--target-qps", type=FiniteFloat(min=0, min_open=True), help="Server and Offline: the QPS LoadGen should expect.")
@click.option("--expected-latency-ms", type=FiniteFloat(min=0, min_open=True),
              help="SingleStream and MultiStream: the latency LoadGen should expect.")
@click.option("--from-bench", type=InputPath(), help="Seed the expected latency and QPS from a bench result (bench --save-json).")
@click.option("--quick", is_flag=True, help="Short runs (2 s, few queries): NOT a compliant run, and labelled so.")
@click.option("--min-duration-s", type=FiniteFloat(min=0, min_open=True),
              help="Override the minimum duration (not a compliant run).")
@click.option("--latency-bound-ms", type=FiniteFloat(min=0, min_open=True),
              help="Server latency bound instead of the ResNet-50 rule's 15 ms (not a compliant run).")
@click.option("--find-peak", is_flag=True, help="Server: search the largest VALID QPS within the latency bound.")
@click.option("--peak-runs", type=click.IntRange(min=1), default=8, show_default=True,
              help="--find-peak: at most this many Server runs.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Offline batch and Server batcher's largest batch "
              "[default: 16 CPU, 64 GPU, 1 through Triton].")
@click.option("--workers", type=click.IntRange(min=1), help="Worker threads / GPU streams / requests in flight "
              "[default: 1 CPU, 2 GPU, 8 Triton].")
@click.option("--batch-timeout-ms", type=FiniteFloat(min=0), default=2.0, show_default=True,
              help="Server: how long the batcher waits for a fuller batch.")
@click.option("--threads", type=click.IntRange(min=1), help="Intra-op threads for CPU backends.")
@click.option("--timeout-s", type=FiniteFloat(min=0, min_open=True),
              help="Watchdog per run [default: three times the expected run time plus a minute].")
@click.option("--predictor", help="MODULE:FUNCTION that returns your own predictor for MODEL (predict, batch_limits, "
              "input_dtype, close).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def mlperf(model: str, output: Path, scenario: str, mode: str, backend: str | None, server: str | None,
           dataset: str | None, data_dir: Path | None, val_map: Path | None, limit: int | None,
           random_count: int | None, user_conf: Path | None, target_qps: float | None,
           expected_latency_ms: float | None, from_bench: Path | None, quick: bool, min_duration_s: float | None,
           latency_bound_ms: float | None, find_peak: bool, peak_runs: int, batch_size: int | None, workers: int | None,
           batch_timeout_ms: float, threads: int | None, timeout_s: float | None, predictor: str | None,
           as_json: bool) -> None:
    """Run MLPerf LoadGen's scenarios against MODEL (an ONNX model, plan or checkpoint on
    --backend, or a model on a Triton --server): LoadGen's ResNet-50 rules by default, so a
    full run is a compliant one (about 10 minutes per scenario; --quick for a look).

    Each scenario runs in its own process under a watchdog: a runner that fails or loses a
    sample ends the run with one line (exit 1). VALID and INVALID results are both exit 0;
    the table says which, with LoadGen's reasons.

    \b
      resnet-deploy mlperf r50.onnx --scenario all --dataset imagefolder --data-dir imagenet -o mlperf
      resnet-deploy mlperf r20.onnx --scenario Offline --mode both --dataset digits --quick -o out
      resnet-deploy mlperf r20 --server localhost:8001 --scenario Server --find-peak --quick -o peak
    """
    from resnet_deploy.mlperf import MlperfConfig, RunSettings, Seeds, run_mlperf
    from resnet_deploy.mlperf.result import render_summary
    from resnet_deploy.mlperf.run import require_loadgen
    from resnet_deploy.mlperf.settings import check_user_conf, parse_modes, parse_scenarios

    require_loadgen()
    scenarios = parse_scenarios(scenario)
    if find_peak and scenarios != ("Server",):
        raise click.UsageError("--find-peak searches the Server scenario: use it with --scenario Server")
    if find_peak and mode != "performance":
        raise click.UsageError("--find-peak is a performance search: leave --mode at performance")
    seeds = Seeds(single_stream_latency_ms=expected_latency_ms, multi_stream_latency_ms=expected_latency_ms,
                  server_qps=target_qps, offline_qps=target_qps, source="given")
    settings = RunSettings(scenarios=scenarios, modes=parse_modes(mode),
                           user_conf=check_user_conf(user_conf) if user_conf else None, seeds=seeds, quick=quick,
                           min_duration_ms=round(min_duration_s * 1000) if min_duration_s else None,
                           server_latency_bound_ms=latency_bound_ms)
    config = MlperfConfig(model=model, output=output, settings=settings, backend=backend, server=server,
                          predictor=predictor, dataset=dataset, data_dir=data_dir, val_map=val_map,
                          random=random_count, limit=limit, threads=threads, batch_size=batch_size, workers=workers,
                          batch_timeout_ms=batch_timeout_ms, timeout_s=timeout_s, from_bench=from_bench)

    if server:
        from resnet_deploy.mlperf.predictors import ServerAddress

        ServerAddress.parse(server)  # refused before anything loads

    interactive = sys.stderr.isatty() and not as_json

    def say(message: str) -> None:
        """Progress on a terminal only: a refusal or a failed run stays one line on stderr."""
        if interactive:
            click.echo(message, err=True)

    if find_peak:
        from resnet_deploy.mlperf.peak import find_peak as search

        result = search(config, progress=say, max_runs=peak_runs)
    else:
        result = run_mlperf(config, progress=say)
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(render_summary(result))
        click.echo(f"results: {output} (LoadGen's logs in MLPerf's layout, mlperf.json, summary.txt)")
