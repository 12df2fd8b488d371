"""The `resnet-deploy` command line.

Subcommands live one per module in this package and are imported only when invoked, so
`resnet-deploy --help` works on a machine without TensorRT, CUDA or OpenVINO. An ImportError
inside a subcommand's module is a real error and is never turned into "No such command".

User errors (ResnetDeployError) become one line and the exit code the error carries; with
`--debug` (or RESNET_DEPLOY_DEBUG=1) the traceback is shown instead. Anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

import click

from resnet_deploy import __version__
from resnet_deploy.errors import ResnetDeployError

# name -> (module, attribute, one-line help shown in `resnet-deploy --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "models": ("resnet_deploy.cli.models_cmd", "models", "List the registered ResNets with params and MACs."),
    "info": ("resnet_deploy.cli.info_cmd", "info", "Show Python, torch, ONNX, runtimes, CPU and GPU."),
    "export": ("resnet_deploy.cli.export_cmd", "export", "Export a ResNet (checkpoint or untrained) to a single-file ONNX model."),
    "validate": ("resnet_deploy.cli.validate_cmd", "validate", "Compare an ONNX model with its PyTorch source under onnxruntime."),
    "inspect": ("resnet_deploy.cli.inspect_cmd", "inspect", "Opset, I/O, ops, params, MACs, metadata of an ONNX model or plan."),
    "build": ("resnet_deploy.cli.build_cmd", "build", "TensorRT plan (+ sidecar, per-layer precision check) from an ONNX model."),
    "quantize": ("resnet_deploy.cli.quantize_cmd", "quantize", "FP16 or INT8 (Q/DQ, calibrated) ONNX model from an FP32 one."),
    "accuracy": ("resnet_deploy.cli.accuracy_cmd", "accuracy", "Top-1/top-5 of FP16/INT8 models vs their FP32 reference on real data."),
    "bench": ("resnet_deploy.cli.bench_cmd", "bench", "Latency percentiles and throughput per batch size, several backends side by side."),
    "bench-compare": ("resnet_deploy.cli.bench_compare_cmd", "bench_compare", "Change per batch size between two bench results."),
    "train": ("resnet_deploy.cli.train_cmd", "train", "Train a ResNet (digits, MNIST, CIFAR, image folders); checkpoints + curves; DDP under torchrun."),
    "eval": ("resnet_deploy.cli.eval_cmd", "eval_cmd", "Top-1/top-5, per-class accuracy and confusion matrix of a checkpoint."),
    "experiment": ("resnet_deploy.cli.experiment_cmd", "experiment", "Paper experiments: `experiment degradation` (plain vs residual)."),
    "pipeline": ("resnet_deploy.cli.pipeline_cmd", "pipeline", "Train, export, validate, quantize, build, bench: one report."),
    "triton-repo": ("resnet_deploy.cli.triton_repo_cmd", "triton_repo", "Triton model repository (config.pbtxt from the artifact, validated) from ONNX models and plans."),
    "serve": ("resnet_deploy.cli.serve_cmd", "serve", "Serve an ONNX model or plan through a real Triton server on this machine (HTTP, gRPC, metrics)."),
}


def register_command(name: str, module: str, attribute: str, short_help: str) -> None:
    """Add a lazily-loaded subcommand (used by this package's own command table)."""
    COMMANDS[name] = (module, attribute, short_help)


class _UserError(click.ClickException):
    """A ResnetDeployError shown as one line with its own exit code."""

    def __init__(self, error: ResnetDeployError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code  # type: ignore[misc]


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in COMMANDS:
            return None
        module_name, attribute, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module_name}.{attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help text comes from the table, so listing commands imports none of them.
        rows = [(name, COMMANDS[name][2]) for name in sorted(COMMANDS)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ResnetDeployError as error:
            if ctx.params.get("debug") or os.environ.get("RESNET_DEPLOY_DEBUG") == "1":
                raise
            raise _UserError(error) from error


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="resnet-deploy")
@click.option("--debug", is_flag=True, help="Show tracebacks for user errors.")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug logs).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: int) -> None:
    """resnet-deploy: train, export, quantize, build and benchmark ResNets."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    cli(prog_name="resnet-deploy")
