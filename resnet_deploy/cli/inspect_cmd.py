"""`resnet-deploy inspect`: what an ONNX model (or a TensorRT plan) holds."""

from __future__ import annotations

from pathlib import Path

import click

from resnet_deploy.cli.output import echo_json
from resnet_deploy.cli.params import InputPath, command

PLAN_SUFFIXES = (".plan", ".engine")


@command("inspect")
@click.argument("path", type=InputPath())
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def inspect(path: Path, as_json: bool) -> None:
    """Opset, inputs/outputs, op histogram, parameters, MACs, metadata and file size of PATH
    (.onnx; .plan/.engine files get the TensorRT engine report)."""
    if path.suffix.lower() in PLAN_SUFFIXES:
        from resnet_deploy.sidecar import require_file

        require_file(path, "TensorRT plan")
        from resnet_deploy.tensorrt.inspect_plan import format_plan_report, plan_report

        report = plan_report(path)
        if as_json:
            echo_json(report)
        else:
            click.echo(format_plan_report(report))
        return
    from resnet_deploy.export.inspect import format_inspect, inspect_onnx

    report = inspect_onnx(path)
    if as_json:
        echo_json(report)
    else:
        click.echo(format_inspect(report))
