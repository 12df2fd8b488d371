"""The CLI skeleton: help on every command, version, models table, error conventions."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from resnet_deploy import __version__
from resnet_deploy.cli import COMMANDS, cli


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_help_lists_every_command(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


# Imported in a fresh interpreter where the optional runtimes cannot be imported at all, so a
# command module that imports one at its top level fails here.
_BLOCKED_HELP = """
import sys
BLOCKED = {"onnxruntime", "openvino", "tensorrt", "cuda", "pynvml", "tritonclient", "pytriton"}
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked for this test")
sys.meta_path.insert(0, Blocker())
from resnet_deploy.cli import COMMANDS, cli
failed = []
for name in sorted(COMMANDS):
    try:
        cli.main([name, "--help"], prog_name="resnet-deploy", standalone_mode=False)
    except BaseException as error:
        failed.append(f"{name}: {type(error).__name__}: {error}")
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print("FAILED", failed, "LEAKED", leaked)
sys.exit(1 if failed or leaked else 0)
"""


def test_every_subcommand_has_help_without_optional_dependencies() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _BLOCKED_HELP], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("Usage:") == len(COMMANDS)


def test_an_import_error_inside_a_command_is_not_no_such_command(runner: CliRunner,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import resnet_deploy.cli as cli_module

    monkeypatch.setitem(cli_module.COMMANDS, "broken", ("resnet_deploy.cli.no_such_module", "x", "broken"))
    result = runner.invoke(cli, ["broken", "--help"])
    assert isinstance(result.exception, ModuleNotFoundError)
    assert "No such command" not in result.output


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_models_json_lists_every_family_with_counts(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["models", "--json"])
    assert result.exit_code == 0, result.output
    records = {r["name"]: r for r in json.loads(result.output)}
    assert records["resnet50"]["params"] == 25_557_032
    assert records["resnet20"]["params"] == 269_722
    assert records["wide_resnet50_2"]["params"] == 68_883_240
    assert abs(records["resnet50"]["macs"] - 4.09e9) / 4.09e9 < 0.02
    assert records["resnet56"]["input_size"] == [3, 32, 32]
    for name in ["plain56", "preact_resnet200", "resnext50_32x4d", "resnet1202"]:
        assert name in records
    assert set(records["resnet50"]) >= {"name", "family", "depth", "block", "params", "macs", "input_size"}


def test_info_reports_torch_and_onnxruntime(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["info", "--json"])
    assert result.exit_code == 0, result.output
    env = json.loads(result.output)
    assert env["torch"]["version"] and "cpu" in env and "gpus" in env


def test_unknown_command_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["no-such-command"])
    assert result.exit_code == 2


@pytest.mark.parametrize("debug", [["--debug"], []], ids=["debug", "plain"])
def test_debug_shows_the_traceback_and_keeps_the_exit_code(runner: CliRunner, debug: list[str]) -> None:
    result = runner.invoke(cli, [*debug, "export", "--model", "resnet9999", "-o", "x.onnx"])
    assert result.exit_code == 2, result.output
    assert ("Traceback" in result.stderr) is bool(debug)
    assert result.stderr.strip().splitlines()[-1].startswith("Error: unknown model 'resnet9999'")


def test_a_runtime_failing_to_allocate_is_one_line_and_exit_2(runner: CliRunner,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import resnet_deploy.model_costs as costs

    class Fail(Exception):  # what onnxruntime raises: not a MemoryError, not even a RuntimeError
        pass

    def allocate(family: str | None = None) -> list[object]:
        raise Fail("[ONNXRuntimeError] : 1 : FAIL : Failed to allocate memory for requested buffer of size 1310720000")

    monkeypatch.setattr(costs, "model_costs", allocate)
    result = runner.invoke(cli, ["models"])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        "Error: out of memory ([ONNXRuntimeError] : 1 : FAIL : Failed to allocate memory for requested buffer of size "
        "1310720000); choose a smaller size or raise the process's memory limit"]


def test_ctrl_c_during_a_c_extensions_import_is_an_interrupt_not_a_failure(runner: CliRunner,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Python turns Ctrl-C while a C extension initialises into `ImportError: initialization
    failed` raised from the KeyboardInterrupt (seen: SIGINT while matplotlib loaded in train)."""
    import resnet_deploy.model_costs as costs

    def interrupted_import(family: str | None = None) -> list[object]:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise ImportError("initialization failed") from interrupt

    monkeypatch.setattr(costs, "model_costs", interrupted_import)
    result = runner.invoke(cli, ["models"])
    assert result.exit_code == 130 and "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        "Error: interrupted (SIGINT); nothing half-written was left behind"]
