"""What a pipeline run did not do here, and why, grouped the way a reader acts on it.

Each step, precision variant or backend that did not run is one `Skip`: its kind and name, the
cause it shares with others (on a machine without a GPU every GPU backend shares "no NVIDIA
GPU here"), and the package that would let it run with the line that installs it.
`group_skips` turns them into one line per cause and one install line per missing package;
pipeline.json keeps the records themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from resnet_deploy.backends.registry import Unavailable
from resnet_deploy.jsontypes import JsonObject

NO_GPU = "no NVIDIA GPU here"
KINDS = ("step", "variant", "backend")  # the order a group names them in


@dataclass(frozen=True)
class Skip:
    kind: str  # step | variant | backend
    name: str
    cause: str  # why, in words shared by everything skipped for the same reason
    package: str | None = None  # what would let it run ("tensorrt", "onnxruntime-gpu"), when pip can
    install: str | None = None  # how to install that package, one line

    def to_dict(self) -> JsonObject:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: JsonObject) -> Skip:
        return cls(**data)


def backend_skip(why: Unavailable, *, gpu: bool) -> Skip:
    """A backend that cannot run here: on a machine without a GPU, a GPU backend's cause is that
    (whatever else it lacks); its package and install line stay, for the machine that has one."""
    cause = NO_GPU if why.needs_gpu and not gpu else why.cause
    return Skip("backend", why.backend, cause, why.package, why.install)


def _who(names: dict[str, list[str]]) -> str:
    """Names by kind, in KINDS order: "step tensorrt; backends torch-cudagraph, tensorrt"."""
    order = {kind: i for i, kind in enumerate(KINDS)}
    return "; ".join(f"{kind}{'s' if len(items) > 1 else ''} {', '.join(items)}"
                     for kind, items in sorted(names.items(), key=lambda kv: order.get(kv[0], len(order))))


@dataclass(frozen=True)
class SkipGroup:
    """Everything skipped for one cause."""

    cause: str
    names: dict[str, list[str]]  # kind -> names

    def line(self) -> str:
        return f"{_who(self.names)}: {self.cause}"


@dataclass(frozen=True)
class InstallLine:
    """One missing package, how to install it, and what it would let run."""

    package: str
    install: str
    needed_by: dict[str, list[str]]  # kind -> names

    def line(self) -> str:
        return f"{self.package} (for {_who(self.needed_by)}): {self.install}"


def group_skips(skips: Iterable[Skip]) -> tuple[list[SkipGroup], list[InstallLine]]:
    """One group per cause (in the order causes first appear) and one install line per missing
    package."""
    groups: dict[str, SkipGroup] = {}
    installs: dict[str, InstallLine] = {}
    for skip in skips:
        _add(groups.setdefault(skip.cause, SkipGroup(skip.cause, {})).names, skip)
        if skip.package and skip.install:
            _add(installs.setdefault(skip.package, InstallLine(skip.package, skip.install, {})).needed_by, skip)
    return list(groups.values()), list(installs.values())


def _add(names: dict[str, list[str]], skip: Skip) -> None:
    same_kind = names.setdefault(skip.kind, [])
    if skip.name not in same_kind:
        same_kind.append(skip.name)
