"""The `resnet-deploy` command line.

Subcommands live one per module in this package and are imported only when invoked, so
`resnet-deploy --help` works on a machine without TensorRT, CUDA or OpenVINO. An ImportError
inside a subcommand's module is a real error and is never turned into "No such command".

Every failure a user can cause is one line on stderr and an exit code: a ResnetDeployError
its own (1 a check failed, 2 bad input, 3 missing dependency), a usage error 2, an output the
file system refuses (disk full, read-only, ...) 2, Ctrl-C 130 and SIGTERM 143 (both unwind
the stack first, so temporaries are removed). With `--debug` (or RESNET_DEPLOY_DEBUG=1) the
traceback is shown as well, and the exit code is still the error's own. Anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from typing import Any

import click

from resnet_deploy import __version__
from resnet_deploy.atomic import WRITE_ERRNOS, write_error
from resnet_deploy.errors import ResnetDeployError, Terminated
from resnet_deploy.memory import is_allocation_failure
from resnet_deploy.optional import import_attribute

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
    "profile": ("resnet_deploy.cli.profile_cmd", "profile", "Time per layer (ONNX nodes, op, precision, share); two models side by side."),
    "bench-compare": ("resnet_deploy.cli.bench_compare_cmd", "bench_compare", "Change per batch size between two bench results."),
    "train": ("resnet_deploy.cli.train_cmd", "train", "Train a ResNet (digits, Fashion-MNIST, MNIST, CIFAR, image folders); checkpoints + curves; DDP under torchrun."),
    "eval": ("resnet_deploy.cli.eval_cmd", "eval_cmd", "Top-1/top-5, per-class accuracy and confusion matrix of a checkpoint."),
    "experiment": ("resnet_deploy.cli.experiment_cmd", "experiment", "Paper experiments: `experiment degradation` (plain vs residual)."),
    "pipeline": ("resnet_deploy.cli.pipeline_cmd", "pipeline", "Train, export, validate, quantize, build, bench: one report."),
    "triton-repo": ("resnet_deploy.cli.triton_repo_cmd", "triton_repo", "Triton model repository (config.pbtxt from the artifact, validated) from ONNX models and plans."),
    "serve": ("resnet_deploy.cli.serve_cmd", "serve", "Serve an ONNX model or plan through a real Triton server on this machine (HTTP, gRPC, metrics)."),
    "mlperf": ("resnet_deploy.cli.mlperf_cmd", "mlperf", "MLPerf LoadGen scenarios (SingleStream, MultiStream, Server, Offline) on any backend or Triton."),
}


class _UserError(click.ClickException):
    """A one-line error with its own exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]


def _user_error(message: str, exit_code: int, error: BaseException, *, debug: bool) -> _UserError:
    """The one-line error for `error`; with --debug its traceback is printed first, and the
    exit code stays the error's own."""
    if debug:
        traceback.print_exception(error, file=sys.stderr)
    return _UserError(message, exit_code)


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While a command runs, SIGTERM raises Terminated (so cleanup runs, then exit 143)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stopped_by_signal(error: BaseException) -> _UserError | None:
    """The one-line exit 130/143 when a signal's exception (KeyboardInterrupt, Terminated) is
    `error` or in its cause chain: Python turns Ctrl-C during a C extension's initialisation
    into `ImportError: initialization failed` raised from the KeyboardInterrupt, and that is
    still the user's interrupt, not a failure."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, KeyboardInterrupt):
            return _UserError("interrupted (SIGINT); nothing half-written was left behind", 130)
        if isinstance(cause, Terminated):
            return _UserError("terminated (SIGTERM); nothing half-written was left behind", 143)
        cause = cause.__cause__ or cause.__context__
    return None


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in COMMANDS:
            return None
        module_name, attribute, _ = COMMANDS[cmd_name]
        command = import_attribute(module_name, attribute)
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
        debug = ctx.params.get("debug") or os.environ.get("RESNET_DEPLOY_DEBUG") == "1"
        try:
            with _sigterm_raises():
                return super().invoke(ctx)
        except (KeyboardInterrupt, Terminated) as stop:
            raise _stopped_by_signal(stop) or stop from None
        except ResnetDeployError as error:
            raise _user_error(_one_line(str(error)), error.exit_code, error, debug=debug) from error
        except OSError as error:
            if error.errno in WRITE_ERRNOS | {errno.ENOENT, errno.EIO}:
                path = error.filename or "a file"
                message = str(write_error(path, error)).replace("cannot write", "cannot access")
                raise _user_error(_one_line(message), 2, error, debug=debug) from error
            if not is_allocation_failure(error):
                raise
            raise _user_error(_one_line(f"out of memory: {error}; choose a smaller size"), 2, error,
                              debug=debug) from error
        except Exception as error:  # a runtime that failed to allocate outside a guarded block
            stopped = _stopped_by_signal(error)  # e.g. Ctrl-C during a C extension's import
            if stopped is not None:
                raise stopped from None
            if not is_allocation_failure(error):
                raise
            raise _user_error(_one_line(f"out of memory ({error}); choose a smaller size or raise the process's "
                                        "memory limit"), 2, error, debug=debug) from error

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        """Click's standalone mode prints usage errors over three lines and turns Ctrl-C into
        exit 1; here every error is one line and keeps its own exit code."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as error:
            hint = ""
            if isinstance(error, click.UsageError) and error.ctx is not None:
                hint = f" (see '{error.ctx.command_path} --help')"
            click.echo(f"Error: {_one_line(error.format_message())}{hint}", err=True)
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("Error: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


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
