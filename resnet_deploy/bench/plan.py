"""Which backend runs which artifact: the one rule `bench` and `pipeline` share.

Each backend runs every artifact of the kind it takes (plans, ONNX models, checkpoints and
model names). Asked for explicitly (`bench`), an artifact no chosen backend runs, or a
backend with nothing to run, is refused (exit 2) rather than silently left out; asked for
"everything that runs here" (`pipeline`), each backend gets the models whose precision and
INT8 layout its registry row says it runs well, and the rest are left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from resnet_deploy.artifact_kinds import artifact_kind
from resnet_deploy.backends.registry import (
    RunOptions,
    backend_names,
    check_run_precision,
    default_backend,
    get_backend,
)
from resnet_deploy.bench.config import BackendSpec
from resnet_deploy.errors import InvalidInputError

# How each kind of artifact is named on the command line (for the refusals).
SOURCE_FLAGS = {"plan": "--engine PLAN", "onnx": "--onnx MODEL", "checkpoint": "--checkpoint PATH or --model NAME"}
_GIVEN_AS = {"plan": "--engine", "onnx": "--onnx", "checkpoint": "--checkpoint/--model"}
_TORCH_FLAGS = {"channels_last": "--channels-last", "device": "--device"}


@dataclass(frozen=True)
class Source:
    """One thing to time: a file or a model name, and for `suited` plans its precision and
    INT8 layout (None: read nothing, run it wherever its kind runs)."""

    source: Path | str
    precision: str | None = None
    int8_layout: str | None = None
    label: str | None = None  # how tables name it (default: the backend and the file name)


def _refuse_duplicates(sources: Sequence[Source]) -> None:
    seen: set[str] = set()
    for item in sources:
        key = str(item.source.resolve()) if isinstance(item.source, Path) else item.source
        if key in seen:
            kind = artifact_kind(item.source)
            flag = _GIVEN_AS[kind] if kind != "checkpoint" else ("--checkpoint" if isinstance(item.source, Path)
                                                                 else "--model")
            raise InvalidInputError(f"{flag} names {key} more than once; give each artifact once")
        seen.add(key)


def plan_specs(sources: Sequence[Source], backends: Sequence[str] = (), *, options: RunOptions | None = None,
               suited: bool = False) -> list[BackendSpec]:
    """The (backend, artifact) pairs to time, in the order sources were given. Without
    `backends`, each artifact runs on its kind's default backend (tensorrt, ort-cpu, torch).
    `options` go to the backends that take them (torch's channels_last and device; the run
    precision to every backend, each of which must compute it);
    with `suited`, a backend only gets the sources whose precision and INT8 layout it runs,
    and nothing is refused."""
    options = options or RunOptions()
    if not sources:
        raise InvalidInputError("nothing to benchmark: give --engine PLAN, --onnx MODEL or --checkpoint/--model "
                                "(each may be repeated)")
    _refuse_duplicates(sources)
    kinds_given = {artifact_kind(s.source) for s in sources}
    chosen = list(dict.fromkeys(backends)) or [default_backend(kind) for kind in ("plan", "onnx", "checkpoint")
                                               if kind in kinds_given]
    runs = {name: get_backend(name) for name in chosen}
    if not suited:
        for name, info in runs.items():
            if info.artifact not in kinds_given:
                raise InvalidInputError(f"--backend {name} needs {SOURCE_FLAGS[info.artifact]}")
        for item in sources:
            kind = artifact_kind(item.source)
            if not any(info.artifact == kind for info in runs.values()):
                raise InvalidInputError(f"{_GIVEN_AS[kind]} {item.source} is not run by any --backend given "
                                        f"({', '.join(chosen)}); add --backend with one of: "
                                        f"{', '.join(backend_names(kind))}")
        given = [flag for key, flag in _TORCH_FLAGS.items() if key in options.given()]
        if given and not any(info.artifact == "checkpoint" for info in runs.values()):
            raise InvalidInputError(f"{given[0]} applies to torch backends (--checkpoint/--model), and none is timed")
        for name in runs:  # every backend timed must compute the run precision: a silent FP32 column would mislead
            check_run_precision(name, options.precision)
    names = Counter(Path(s.source).name if isinstance(s.source, Path) else s.source for s in sources)
    specs = []
    for kind in ("plan", "onnx", "checkpoint"):
        for item in (s for s in sources if artifact_kind(s.source) == kind):
            path = item.source if isinstance(item.source, Path) else None
            shown = str(path) if path is not None and names[path.name] > 1 else None  # the same file name twice
            for name, info in runs.items():
                if info.artifact != kind or (suited and item.precision is not None
                                             and not info.runs(item.precision, item.int8_layout)):
                    continue
                label = item.label.format(backend=name) if item.label else (f"{name} ({shown})" if shown else None)
                spec_options = options if kind == "checkpoint" else RunOptions(precision=options.precision)
                if path is None:
                    specs.append(BackendSpec(name, model=str(item.source), label=label, options=spec_options))
                else:
                    specs.append(BackendSpec(name, artifact=path, label=label, options=spec_options))
    return specs
