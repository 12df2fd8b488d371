"""`resnet-deploy serve`: one artifact behind a real Triton Inference Server on this machine."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from resnet_deploy.backends.registry import RUN_PRECISIONS, backend_names
from resnet_deploy.cli.params import InputPath, command

_SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


class _Stopped(BaseException):
    """SIGINT/SIGTERM while the server starts: unwinds start_serving (which stops the server)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum: int, _frame: Any) -> NoReturn:
    raise _Stopped(signum)


@command("serve")
@click.argument("artifact", metavar="ARTIFACT", required=False, type=InputPath())
@click.option("--backend", "runner", type=click.Choice(backend_names(served=True)),
              help="The resnet-deploy runner Triton calls [default: ort-cpu for ONNX, tensorrt for plans].")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the endpoints listen on (0.0.0.0: all).")
@click.option("--http-port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="HTTP/REST port (KServe v2); 0: any free port.")
@click.option("--grpc-port", type=click.IntRange(0, 65535), default=8001, show_default=True, help="gRPC port (KServe v2); 0: any free port.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=8002, show_default=True, help="Prometheus metrics port; 0: any free port.")
@click.option("--max-batch", type=click.IntRange(min=1), help="max_batch_size [default: the plan's profile maximum; 32 for dynamic ONNX].")
@click.option("--instances", type=click.IntRange(min=1), default=1, show_default=True, help="Model instances (each its own process and runner).")
@click.option("--max-queue-delay-us", type=click.IntRange(min=0), default=0, show_default=True,
              help="How long the dynamic batcher may hold a request to fill a batch.")
@click.option("--threads", type=click.IntRange(min=1), help="Runtime threads per instance [default: the cores shared among the instances].")
@click.option("--name", help="Model name [default: the file name without its suffix].")
@click.option("--precision", type=click.Choice(RUN_PRECISIONS), default=None,
              help="Compute the model in this precision (bf16: --backend openvino) [default: the model's own].")
@click.option("--setup", is_flag=True, help="Only install the Triton server runtime (once, into the cache) and exit.")
def serve(artifact: Path | None, runner: str | None, host: str, http_port: int, grpc_port: int, metrics_port: int,
          max_batch: int | None, instances: int, max_queue_delay_us: int, threads: int | None, name: str | None,
          precision: str | None, setup: bool) -> None:
    """Serve ARTIFACT (an ONNX model or a TensorRT plan) through a real Triton Inference Server,
    with resnet-deploy's runner as the model: HTTP and gRPC (KServe v2), health, readiness and
    Prometheus metrics, dynamic batching. Runs until Ctrl-C or SIGTERM (exit 130 / 143).

    The server is the one NVIDIA ships in the nvidia-pytriton wheel; it is installed on first
    use (about 55 MB from PyPI, plus numpy 1.26 for its Python backend) into
    ~/.cache/resnet-deploy/triton (RESNET_DEPLOY_TRITON_HOME), never into this environment.

    \b
      resnet-deploy serve r20.onnx                         # http://127.0.0.1:8000/v2/models/r20
      resnet-deploy serve r50.int8.onnx --backend openvino --instances 2 --max-queue-delay-us 2000
      resnet-deploy serve --setup                          # install the server runtime only
    """
    from resnet_deploy.serving.runtime import install_runtime

    if setup:
        runtime = install_runtime(progress=lambda message: click.echo(message, err=True))
        click.echo(f"Triton server runtime ready: {runtime.server_binary}")
        if artifact is None:
            return
    if artifact is None:
        raise click.UsageError("give the ARTIFACT to serve (or --setup to install the server runtime only)")

    from resnet_deploy.serving.server import ServeOptions, start_serving

    options = ServeOptions(runner=runner, host=host, http_port=http_port, grpc_port=grpc_port,
                           metrics_port=metrics_port, max_batch=max_batch, instances=instances,
                           max_queue_delay_us=max_queue_delay_us, threads=threads, name=name, precision=precision)
    previous = {s: signal.signal(s, _raise_stopped) for s in _SIGNAL_EXIT}
    try:
        session = start_serving(artifact, options)
    except _Stopped as stopped:
        click.echo("stopped before the server was ready", err=True)
        sys.exit(_SIGNAL_EXIT[signal.Signals(stopped.signum)])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    with session:  # stops the server (SIGTERM, then SIGKILL of its process group) on the way out
        base = f"http://{session.http_url}"
        click.echo(f"serving '{session.model_name}' ({session.runner} runner, {artifact}) on Triton Inference Server")
        click.echo(f"  HTTP     {base}/v2/models/{session.model_name}/infer  (KServe v2)")
        click.echo(f"  gRPC     {session.grpc_url}")
        click.echo(f"  health   {base}/v2/health/live  {base}/v2/health/ready")
        click.echo(f"  metrics  {session.metrics_url}")
        click.echo(f"  batching max batch {session.max_batch_size}, dynamic batching, queue delay {max_queue_delay_us} us, "
                   f"{instances} instance(s)")
        click.echo(f"  log      {session.log_path}")
        click.echo("Ctrl-C or SIGTERM stops it.", err=True)
        signum = session.wait()
        for s in _SIGNAL_EXIT:  # a second Ctrl-C must not interrupt the shutdown
            signal.signal(s, signal.SIG_IGN)
        if signum is None:
            reason = session.log_tail(5).splitlines()
            click.echo(f"the Triton server stopped by itself (code {session.process.returncode}): "
                       f"{reason[-1] if reason else 'no log'}", err=True)
            sys.exit(1)
        click.echo(f"stopping ({signal.Signals(signum).name})", err=True)
    sys.exit(_SIGNAL_EXIT[signal.Signals(signum)])
