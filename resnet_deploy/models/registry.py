"""The model registry: a plain dict of names to constructors, filled by a decorator.

Names (resnet50, resnet56, plain56, preact_resnet50, resnext50_32x4d, ...) resolve directly;
`--depth N --family F` resolves through the same table, and a bad name or depth is an
InvalidInputError listing the valid ones.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
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
    model_class: type[nn.Module]

    @property
    def options(self) -> tuple[str, ...]:
        """The keyword arguments build() accepts (num_classes, in_channels, ...)."""
        return tuple(_arguments_record(self.model_class).model_fields)

    def arguments(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """`kwargs` checked against the constructor's annotated types (a checkpoint's sidecar
        saying `"num_classes": "ten"` is refused here, not deep in the constructor);
        InvalidInputError naming the first bad argument."""
        from resnet_deploy.jsonfile import first_problem

        unknown = sorted(set(kwargs) - set(self.options))
        if unknown:
            raise InvalidInputError(f"{self.name} does not take {', '.join(unknown)}; it takes {', '.join(self.options)}")
        try:
            record = _arguments_record(self.model_class).model_validate(kwargs)
        except ValidationError as exc:
            raise InvalidInputError(f"bad constructor argument for {self.name}: {first_problem(exc)}") from exc
        return {name: getattr(record, name) for name in kwargs}

    def build(self, **kwargs: Any) -> nn.Module:
        kwargs = self.arguments(kwargs)
        kwargs.setdefault("num_classes", self.default_classes)
        try:
            return self.builder(**kwargs)
        except ValueError as exc:  # the constructors' own argument checks (STYLE: ValueError naming the value)
            raise InvalidInputError(f"{self.name}: {exc}") from exc


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
        _REGISTRY[name] = ModelEntry(name, family, depth, block, input_size, builder, classes, model_class)
        return builder

    return decorate


_ARGUMENT_RECORDS: dict[type[nn.Module], type[BaseModel]] = {}


def _arguments_record(model_class: type[nn.Module]) -> type[BaseModel]:
    """A typed record of the constructor options of `model_class` (`num_classes` and its
    keyword-only arguments), built from the signature so the types cannot drift from it."""
    if model_class in _ARGUMENT_RECORDS:
        return _ARGUMENT_RECORDS[model_class]
    hints = typing.get_type_hints(model_class.__init__)
    fields: dict[str, Any] = {
        p.name: (hints.get(p.name, Any), p.default)
        for p in inspect.signature(model_class.__init__).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY or p.name == "num_classes"}
    config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    record: type[BaseModel] = create_model(f"{model_class.__name__}Arguments", __config__=config, **fields)
    _ARGUMENT_RECORDS[model_class] = record
    return record


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
    Arguments the constructor does not take, of the wrong type or a value it refuses are bad
    input (InvalidInputError); a TypeError from inside the constructor is a bug and keeps its
    traceback."""
    return get_entry(name).build(**kwargs)
