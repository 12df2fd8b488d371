"""What every command shares: parameter types that say which paths are inputs and which
are outputs, and the command class that acts on them before any work starts.

The output guard is one mechanism, not a check per command: `Command.invoke` collects the
values of every `InputPath`, `OutputFile` and `OutputFolder` parameter and calls
`atomic.guard_outputs` (no output may resolve to an input or an input's sidecar; output
folders must be writable folders), keeps the inputs protected while the command runs (so a
derived output cannot replace them either), removes output folders it created if the
command fails, and names the CLI flag when a library error is about a parameter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from resnet_deploy.atomic import folders_removed_on_failure, guard_outputs, protect_inputs
from resnet_deploy.errors import ResnetDeployError


class InputPath(click.Path):
    """A file or folder the command reads. Existence is checked by the library, which says
    what the file should have been."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(path_type=Path, **kwargs)


class InputOrName(click.ParamType):
    """An artifact path or a model name (`resnet50`); a value that exists on disk is an input."""

    name = "PATH|NAME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        return str(value)


class OutputFile(click.Path):
    """A file the command writes (atomically, never over an input)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(path_type=Path, **kwargs)


class OutputFolder(click.Path):
    """A folder the command writes into; created if missing, removed again if the command
    fails and it is still empty."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(path_type=Path, **kwargs)


class FiniteFloat(click.ParamType):
    """A float that must be finite (NaN and inf are refused) and within optional bounds."""

    name = "float"

    def __init__(self, min: float | None = None, max: float | None = None, *, min_open: bool = False) -> None:
        self.min, self.max, self.min_open = min, max, min_open

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.min is not None and (number < self.min or (self.min_open and number == self.min)):
            self.fail(f"{value} must be {'>' if self.min_open else '>='} {self.min:g}", param, ctx)
        if self.max is not None and number > self.max:
            self.fail(f"{value} must be <= {self.max:g}", param, ctx)
        return number


class InputSize(click.ParamType):
    """`224` or `224x224` (HxW): the input size for a model whose height/width are dynamic."""

    name = "HxW"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        parts = str(value).lower().replace(",", "x").split("x")
        try:
            sizes = [int(p) for p in parts]
        except ValueError:
            sizes = []
        if len(sizes) == 1:
            sizes *= 2
        if len(sizes) != 2 or min(sizes) < 1:
            self.fail(f"takes N or HxW (224 or 224x224), got {value!r}", param, ctx)
        return sizes[0], sizes[1]


_PARAMETER = re.compile(r"`([a-z_][a-z0-9_]*)`")


def _values(value: Any) -> Iterator[Any]:
    if value is None:
        return
    if isinstance(value, (tuple, list)):
        for item in value:
            yield from _values(item)
    else:
        yield value


class Command(click.Command):
    """A resnet-deploy subcommand: guards its outputs before running (see the module
    docstring). Library messages write parameter names in backticks (`samples`); they are
    shown as this command's flags. `param_aliases` maps library parameter names to this
    command's options where they differ (`{"samples": "calib_samples"}`)."""

    def __init__(self, *args: Any, param_aliases: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.param_aliases = dict(param_aliases or {})

    def paths(self, ctx: click.Context) -> tuple[list[Path], list[Path], list[Path]]:
        """(inputs, output files, output folders) named on this command line."""
        inputs: list[Path] = []
        outputs: list[Path] = []
        folders: list[Path] = []
        for param in self.params:
            for value in _values(ctx.params.get(param.name or "")):
                if isinstance(param.type, InputOrName):
                    if Path(value).exists():
                        inputs.append(Path(value))
                elif isinstance(param.type, OutputFolder):
                    folders.append(Path(value))
                elif isinstance(param.type, OutputFile):
                    outputs.append(Path(value))
                elif isinstance(param.type, InputPath):
                    inputs.append(Path(value))
        return inputs, outputs, folders

    def flag_for(self, name: str) -> str | None:
        name = self.param_aliases.get(name, name)
        for param in self.params:
            if param.name == name:
                opts = [o for o in param.opts if o.startswith("--")] or list(param.opts)
                return opts[0] if isinstance(param, click.Option) else (param.human_readable_name or name).upper()
        return None

    def invoke(self, ctx: click.Context) -> Any:
        inputs, outputs, folders = self.paths(ctx)
        try:
            guard_outputs(inputs=inputs, outputs=outputs, output_dirs=folders)
            with protect_inputs(inputs), folders_removed_on_failure(folders):
                return super().invoke(ctx)
        except ResnetDeployError as error:
            error.args = (self.cli_message(error),)
            raise

    def cli_message(self, error: ResnetDeployError) -> str:
        """The library's message with its parameter names (written `like_this` in backticks)
        turned into this command's flags, prefixed by the flag the error is about."""
        def flag(match: re.Match[str]) -> str:
            return self.flag_for(match[1]) or match[0]

        message = _PARAMETER.sub(flag, str(error))
        named = self.flag_for(error.param) if error.param else None
        if named and named not in message:
            message = f"{named}: {message}"
        return message


def command(name: str, **kwargs: Any) -> Any:
    """`@command("export")`: click.command with the guarding Command class."""
    return click.command(name, cls=Command, **kwargs)


__all__ = ["Command", "FiniteFloat", "InputOrName", "InputPath", "OutputFile", "OutputFolder", "command"]
