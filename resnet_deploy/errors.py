"""Error types that carry the CLI's exit code.

Library code raises these for problems a user can fix (bad input, a failed check, a missing
optional dependency); the CLI turns them into one line and the exit code below. Anything
else is a bug and keeps its traceback.

Exit codes: 0 done, 1 a check failed, 2 bad input or usage, 3 a missing optional dependency
or device, 130 interrupted (SIGINT), 143 terminated (SIGTERM).

Library messages name the *parameter*, in backticks (`samples`, `batch_sizes`), never a CLI
flag: the library is also called from Python. The CLI shows each backticked parameter as
the flag that sets it (`--calib-samples`), and an error may say which parameter it is about
(`param="samples"`) so the CLI can name that flag first.
"""

from __future__ import annotations


class ResnetDeployError(Exception):
    """Base class: a problem the user can act on. `exit_code` is what the CLI returns;
    `param` (optional) is the library parameter the problem is about."""

    exit_code = 2

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class InvalidInputError(ResnetDeployError, ValueError):
    """Bad input or usage: a wrong name, shape, dtype, path or file (exit 2)."""

    exit_code = 2


class ArtifactError(InvalidInputError):
    """An artifact (checkpoint, ONNX model, plan, sidecar) is missing, corrupt or mismatched."""


class CheckFailedError(ResnetDeployError):
    """A check ran and failed: outputs outside tolerance, accuracy drop over the limit (exit 1)."""

    exit_code = 1


class MissingDependencyError(ResnetDeployError, ImportError):
    """An optional package or a device is not present (exit 3)."""

    exit_code = 3


class Terminated(BaseException):
    """SIGTERM arrived. Raised by the CLI's signal handler so the stack unwinds exactly as for
    Ctrl-C (KeyboardInterrupt): every `finally` runs and temporaries are removed. A
    BaseException, so `except Exception` blocks cannot swallow it."""
