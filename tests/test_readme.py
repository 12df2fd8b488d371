"""Every command block in the README works as written.

The blocks are read from README.md itself, so the test follows the README. Each command line
is one of:
- `resnet-deploy ...`: the "first session" and trained-path blocks are RUN, in order, in a
  fresh folder, at a small size (an input of 64 pixels instead of 224, fewer calibration and
  evaluation images, shorter timing: the only changes, made by `_tiny`; training runs as
  written); every other resnet-deploy line is parsed by its command (options and arguments must
  be valid) without running;
- `bash scripts/X.sh`, `python benchmarks/X.py`: the script must exist (gpu_check.sh is run
  with --dry-run by tests/scripts);
- anything else (docker, pip, `.` activation): must be a command this project documents on
  purpose (listed below).
What only a full-size run proves (the demo's few minutes, resnet50 at 224) is run by hand and
recorded in the closing notes."""

from __future__ import annotations

import os
import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from resnet_deploy.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
OTHER_COMMANDS = ("docker", "pip", ".", "TORCH_SPEC=", "WITH_TENSORRT=")


def shell_blocks() -> list[tuple[str, list[str]]]:
    """(the block's section heading and the line just before it, its command lines with
    continuations joined)."""
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in re.finditer(r"```bash\n(.*?)```", text, flags=re.S):
        preceding = text[: match.start()].rstrip().splitlines()
        heading = next((line for line in reversed(preceding) if line.startswith("#")), "")
        before = [heading, preceding[-1] if preceding else ""]
        lines, pending = [], ""
        for raw in match.group(1).splitlines():
            line = raw.split("  #")[0].rstrip() if "  #" in raw else raw.rstrip()
            if line.lstrip().startswith("#") or not line.strip():
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            lines.append((pending + line).strip())
            pending = ""
        blocks.append(("\n".join(before), lines))
    return blocks


def _runs(context: str) -> bool:
    return context.split("\n", 1)[0] == "## A first session"  # every block of that section runs


FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def _may_fail(line: str) -> bool:
    """A check the README shows failing ("exit 1" in its comment): on the tiny model it may pass."""
    return any(raw.startswith(line) and "exit 1" in raw.partition("  #")[2]
               for raw in README.read_text(encoding="utf-8").splitlines())


def _tiny(args: list[str]) -> list[str]:
    """The same command at a small size: what the README says, quicker."""
    command = args[0]
    extra: list[str] = []
    if command == "export" and "--input-size" not in args and "--checkpoint" not in args:
        extra = ["--input-size", "64"]
    if command == "train":  # one short epoch on a slice: the command runs as written, the fit is not the test
        args = [a if prev != "--epochs" else "1" for prev, a in zip(["", *args[:-1]], args, strict=True)]
        extra = ["--train-limit", "512", "--val-limit", "256"]
    if command == "quantize" and "int8" in args and "--calib-samples" not in args:
        extra = ["--calib-samples", "32"]
    if command == "quantize" and "--max-drop" in args:
        extra += ["--search-images", "200"]
    if command == "bench":
        extra = ["--duration", "0.2", "--warmup", "1", "--iterations", "3"]
    if command == "accuracy":
        extra = ["--limit", "64"]
    if command == "validate" and "--dataset" in args:
        extra = ["--limit", "32"]
    return args + extra


def test_the_readme_has_command_blocks() -> None:
    blocks = shell_blocks()
    assert len(blocks) >= 6 and sum(_runs(context) for context, _ in blocks) == 3


def _first_session_blocks() -> list[list[str]]:
    return [lines for context, lines in shell_blocks() if _runs(context)]


@pytest.mark.slow
@pytest.mark.parametrize("block", range(3), ids=["imagenet", "digits", "fashion-mnist"])
def test_the_first_session_and_trained_path_run_as_written(block: int, tmp_path: Path) -> None:
    """Each block in its own fresh folder (they share no files), so xdist runs them side by side."""
    lines = _first_session_blocks()[block]
    if any("fashion-mnist" in line for line in lines) and not FASHION.is_file():
        pytest.skip(f"the block starting {lines[0]!r} needs Debian's dataset-fashion-mnist, which is not "
                    "installed (apt-get install dataset-fashion-mnist; CI installs it)")
    runner = CliRunner()
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        for line in lines:
            words = shlex.split(line)
            if words[0] == ".":
                continue
            assert words[0] == "resnet-deploy", line
            result = runner.invoke(cli, _tiny(words[1:]))
            allowed = {0, 1} if _may_fail(line) else {0}
            assert result.exit_code in allowed, f"{line}\n{result.stdout}\n{result.stderr}"
    finally:
        os.chdir(old)
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_every_other_command_line_is_valid() -> None:
    from resnet_deploy.cli import COMMANDS, LazyGroup

    group = cli
    assert isinstance(group, LazyGroup)
    for context, lines in shell_blocks():
        if _runs(context):
            continue
        for line in lines:
            words = shlex.split(line)
            head = words[0]
            if head == "resnet-deploy":
                name = words[1]
                assert name in COMMANDS, line
                command = group.get_command(None, name)  # type: ignore[arg-type]
                assert command is not None
                command.make_context(name, list(words[2:]), resilient_parsing=False)  # valid options and arguments
            elif head == "bash" or head == "python":
                assert (ROOT / words[1]).is_file(), line
            else:
                assert line.startswith(OTHER_COMMANDS), f"an undocumented kind of command in the README: {line}"
