"""The model registry: a plain dict of names to constructors, filled by a decorator.

Names (resnet50, resnet56, plain56, preact_resnet50, resnext50_32x4d, ...) resolve directly;
`--depth N --family F` resolves through the same table, and a bad name or depth is an
InvalidInputError listing the valid ones.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

from resnet_deploy.errors import InvalidInputError

FAMILIES = ("imagenet", "resnext", "wide", "cifar", "plain", "preact")


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one named architecture."""

    name: str
    family: str
    depth: int
    block: str
    input_size: int  # default square input side in pixels
    builder: Callable[..., nn.Module]
    default_classes: int
    options: tuple[str, ...] = ()  # the keyword arguments build() accepts (num_classes, in_channels, ...)

    def build(self, **kwargs: Any) -> nn.Module:
        kwargs.setdefault("num_classes", self.default_classes)
        return self.builder(**kwargs)


_REGISTRY: dict[str, ModelEntry] = {}

F = TypeVar("F", bound=Callable[..., nn.Module])


def register_model(name: str, *, family: str, depth: int, block: str, input_size: int, model_class: type[nn.Module],
                   default_classes: int | None = None) -> Callable[[F], F]:
    """Decorator: register a constructor under `name`; a duplicate name is a bug and raises.
    `model_class` is the network class the constructor builds: its `num_classes` and
    keyword-only arguments are the options build_model accepts."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; valid: {', '.join(FAMILIES)}")
    classes = default_classes if default_classes is not None else (10 if input_size == 32 else 1000)

    def decorate(builder: F) -> F:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is already registered")
        _REGISTRY[name] = ModelEntry(name, family, depth, block, input_size, builder, classes, _options(model_class))
        return builder

    return decorate


def _options(model_class: type[nn.Module]) -> tuple[str, ...]:
    parameters = inspect.signature(model_class.__init__).parameters.values()
    return tuple(p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY or p.name == "num_classes")


def _ensure_loaded() -> None:
    # The family modules register themselves on import; importing the package loads them all.
    import resnet_deploy.models  # noqa: F401


def list_models(family: str | None = None) -> list[ModelEntry]:
    """Registered entries, ordered by family then depth."""
    _ensure_loaded()
    entries = [e for e in _REGISTRY.values() if family is None or e.family == family]
    return sorted(entries, key=lambda e: (FAMILIES.index(e.family), e.depth, e.name))


def get_entry(name: str) -> ModelEntry:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        valid = ", ".join(e.name for e in list_models())
        raise InvalidInputError(f"unknown model {name!r}; valid names: {valid}") from None


def resolve_model_name(name: str | None = None, depth: int | None = None, family: str = "imagenet") -> str:
    """A model name from either `name` or (`depth`, `family`); ResNet-50 is `depth=50`.
    Both together must agree (`resnet20` with depth 50 is refused, not silently resnet20)."""
    if name is not None:
        entry = get_entry(name)
        if depth is not None and depth != entry.depth:
            raise InvalidInputError(f"`model` {entry.name} has depth {entry.depth}, but `depth` {depth} was given; "
                                    "give one of them", param="depth")
        return entry.name
    if depth is None:
        raise InvalidInputError("give a model name (`model` resnet50) or a depth (`depth` 50)")
    if family not in FAMILIES:
        raise InvalidInputError(f"unknown family {family!r}; valid families: {', '.join(FAMILIES)}")
    matches = [e for e in list_models(family) if e.depth == depth]
    if not matches:
        depths = sorted({e.depth for e in list_models(family)})
        raise InvalidInputError(f"no {family} ResNet of depth {depth}; valid depths for {family}: {', '.join(map(str, depths))}")
    # ResNeXt/Wide list two widths per depth; the first registered is the canonical one.
    return matches[0].name


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Construct a registered model; kwargs go to its constructor (num_classes, in_channels, ...).
    Arguments the constructor does not take are bad input; a TypeError from inside the
    constructor is a bug and keeps its traceback."""
    entry = get_entry(name)
    unknown = sorted(set(kwargs) - set(entry.options))
    if unknown:
        raise InvalidInputError(f"{name} does not take {', '.join(unknown)}; it takes {', '.join(entry.options)}")
    return entry.build(**kwargs)
