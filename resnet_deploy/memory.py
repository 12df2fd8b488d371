"""Will it fit? Memory estimates checked before a large allocation, so an impossible request
(a 100000-pixel input, a batch of 100000) is one line and exit 2 instead of an
out-of-memory kill or a machine swapping for minutes.

The estimate runs the network once on the meta device (no memory, no arithmetic) and keeps
the largest activation; the peak of an inference forward pass is about the input plus a few
activations of that size alive at once (a residual block holds its input, its identity and
its output).

What can be allocated is the tightest of three limits: the memory the kernel has available,
the process's address-space limit (`ulimit -v`, RLIMIT_AS) less what is mapped already, and
the memory limit of the process's cgroup (v2 `memory.max`, v1 `memory.limit_in_bytes`, as
containers and batch schedulers set) less what the cgroup uses. A runtime that still fails to
allocate is caught by `allocation_failures_are_bad_input`.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet_deploy.errors import InvalidInputError, ResnetDeployError

if TYPE_CHECKING:
    from torch import nn

LIVE_ACTIVATIONS = 3  # input of a residual block, its identity branch and its output
FLOAT_BYTES = 4
UNLIMITED = 2**60  # cgroup v1 writes "no limit" as a number near 2**63
CGROUP_ROOT = Path("/sys/fs/cgroup")
# What onnxruntime, OpenVINO, torch and the C++ runtime say when an allocation fails.
_ALLOCATION_FAILURE = re.compile(r"bad_alloc|failed to allocate|can't allocate memory|cannot allocate memory|"
                                 r"out of memory|allocation failed|not enough memory", re.IGNORECASE)


@dataclass(frozen=True)
class MemoryLimit:
    """Bytes that can still be allocated, and which limit says so."""

    bytes: int
    source: str


def available_memory_bytes() -> int | None:
    """What the kernel says can still be allocated without swapping (MemAvailable), or None
    where that cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _status_bytes(field: str) -> int | None:
    """A `kB` field of /proc/self/status (VmSize: what this process has mapped), in bytes."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def address_space_left() -> int | None:
    """Bytes the process may still map under its soft RLIMIT_AS (`ulimit -v`), or None when
    there is no such limit."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    return max(0, soft - (_status_bytes("VmSize") or 0))


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" (v2, no limit) reads as None


def cgroup_memory_left(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> int | None:
    """Bytes the process's cgroup may still use (its limit less its usage), or None without
    a limit. Reads cgroup v2 (`0::/path` → memory.max, memory.current) and v1 (`N:memory:/path`
    → memory/memory.limit_in_bytes, memory.usage_in_bytes); inside a container the cgroup is
    often mounted at the root, so the root's files are read when the path's are absent."""
    try:
        lines = proc_cgroup.read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    candidates: list[tuple[Path, str, str]] = []
    for line in lines:
        _id, controllers, relative = [*line.split(":", 2), "", ""][:3]
        relative = relative.lstrip("/")
        if controllers == "":  # v2, unified
            candidates += [(root / relative, "memory.max", "memory.current"), (root, "memory.max", "memory.current")]
        elif "memory" in controllers.split(","):
            base = root / "memory"
            candidates += [(base / relative, "memory.limit_in_bytes", "memory.usage_in_bytes"),
                           (base, "memory.limit_in_bytes", "memory.usage_in_bytes")]
    left: list[int] = []
    for folder, limit_file, usage_file in candidates:
        limit = _read_int(folder / limit_file)
        if limit is None or limit >= UNLIMITED:
            continue
        left.append(max(0, limit - (_read_int(folder / usage_file) or 0)))
    return min(left) if left else None


def usable_memory() -> MemoryLimit | None:
    """The tightest of available memory, the address-space limit and the cgroup's limit
    (None when none can be read)."""
    limits = [MemoryLimit(value, source) for value, source in (
        (available_memory_bytes(), "available"),
        (address_space_left(), "left under the process's address-space limit (ulimit -v)"),
        (cgroup_memory_left(), "left under the cgroup's memory limit"),
    ) if value is not None]
    return min(limits, key=lambda limit: limit.bytes) if limits else None


def usable_memory_bytes() -> int | None:
    limit = usable_memory()
    return None if limit is None else limit.bytes


def is_allocation_failure(error: BaseException) -> bool:
    """Whether `error` is a runtime failing to allocate memory: MemoryError (numpy, Python),
    torch's OutOfMemoryError, or a runtime's error whose message says so (onnxruntime's
    "Failed to allocate memory", OpenVINO's std::bad_alloc)."""
    if isinstance(error, ResnetDeployError):  # already a message of ours
        return False
    if isinstance(error, MemoryError):
        return True
    if type(error).__name__ == "OutOfMemoryError":
        return True
    return bool(_ALLOCATION_FAILURE.search(str(error)))


@contextlib.contextmanager
def allocation_failures_are_bad_input(what: str, *, param: str | None = None) -> Iterator[None]:
    """Turn a runtime's failed allocation inside the block into InvalidInputError (exit 2):
    the request was too large for this machine or this process's limits."""
    try:
        yield
    except Exception as exc:
        if not is_allocation_failure(exc):
            raise
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise InvalidInputError(f"{what} ran out of memory ({detail}); choose a smaller size or raise the "
                                "process's memory limit", param=param) from exc


def largest_activation_elements(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Elements of the largest output of any leaf module for one forward at `input_shape`."""
    import torch

    largest = 0

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        nonlocal largest
        if isinstance(output, torch.Tensor):
            largest = max(largest, output.numel())

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model(torch.zeros(input_shape, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return largest


def forward_memory_bytes(name: str, input_shape: tuple[int, int, int, int], **kwargs: Any) -> int:
    """Estimated peak bytes of one FP32 inference forward of registry model `name`."""
    import torch

    from resnet_deploy.models import build_model

    with torch.device("meta"):
        model = build_model(name, **kwargs).eval()
    batch, channels, height, width = input_shape
    input_bytes = batch * channels * height * width * FLOAT_BYTES
    return input_bytes + LIVE_ACTIVATIONS * largest_activation_elements(model, input_shape) * FLOAT_BYTES


def require_memory(needed: int, what: str, *, param: str | None = None) -> None:
    """InvalidInputError (exit 2) when `needed` bytes exceed what can be allocated now
    (`usable_memory`: available memory, address-space and cgroup limits)."""
    limit = usable_memory()
    if limit is not None and needed > limit.bytes:
        raise InvalidInputError(f"{what} needs about {needed / 2**30:.1f} GiB of memory, more than the "
                                f"{limit.bytes / 2**30:.1f} GiB {limit.source}; choose a smaller size", param=param)
