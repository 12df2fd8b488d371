"""Optimization profiles from the ONNX graph's input shapes and the batch/shape flags.

Pure functions (no TensorRT), so every rule is unit-tested on a CPU machine: the batch axis
gets (min, opt, max) from min_batch/opt_batch/max_batch; other dynamic axes must come from
`shapes`; a fixed axis in the graph wins and a value that contradicts it is an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resnet_deploy.errors import InvalidInputError

DEFAULT_OPT_BATCH = 32
DEFAULT_MAX_BATCH = 256

Dim = int | str | None  # an int for a fixed axis, a name or None for a dynamic one


@dataclass(frozen=True)
class TensorProfile:
    """min/opt/max shapes of one input."""

    name: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    def to_dict(self) -> dict[str, list[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> TensorProfile:
        try:
            return cls(name, tuple(int(v) for v in data["min"]), tuple(int(v) for v in data["opt"]),
                       tuple(int(v) for v in data["max"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"malformed profile for input '{name}': {data!r}") from exc

    @property
    def batch_range(self) -> tuple[int, int]:
        return (self.min[0], self.max[0]) if self.min else (1, 1)

    def contains(self, shape: Sequence[int]) -> bool:
        return len(shape) == len(self.min) and all(lo <= s <= hi for lo, s, hi in zip(self.min, shape, self.max, strict=True))


def onnx_input_shapes(model: Any) -> dict[str, tuple[Dim, ...]]:
    """Graph inputs (initializers excluded) -> their shapes, dynamic axes as names or None."""
    from resnet_deploy.export.artifact import graph_inputs

    return {tensor.name: tensor.shape for tensor in graph_inputs(model)}


def parse_shapes(text: str | None, input_names: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """`shapes` text -> {input: non-batch dims}.

    Forms: "3x224x224" (the only input), "input:3x224x224", several joined by commas
    ("a:3x224x224,b:10"). The batch axis is never part of it (that is min_batch/opt_batch/max_batch).
    """
    if not text:
        return {}
    result: dict[str, tuple[int, ...]] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, dims_text = item.rpartition(":")
        if not sep:
            if len(input_names) != 1:
                raise InvalidInputError(f"shapes '{item}' needs an input name (NAME:DIMS); inputs: {', '.join(input_names)}",
                                        param="shapes")
            name, dims_text = input_names[0], item
        if name not in input_names:
            raise InvalidInputError(f"shapes names input '{name}', which the model does not have; inputs: {', '.join(input_names)}",
                                    param="shapes")
        try:
            dims = tuple(int(d) for d in dims_text.lower().split("x"))
        except ValueError:
            raise InvalidInputError(f"shapes '{item}': dimensions must be integers joined by 'x' (e.g. 3x224x224)",
                                    param="shapes") from None
        if not dims or any(d < 1 for d in dims):
            raise InvalidInputError(f"shapes '{item}': dimensions must be positive", param="shapes")
        result[name] = dims
    return result


def resolve_batch_range(fixed_batch: int | None, min_batch: int, opt_batch: int | None,
                        max_batch: int | None) -> tuple[int, int, int]:
    """(min, opt, max) batch: defaults fill in, a fixed batch axis pins all three."""
    if fixed_batch is not None:
        for param, value in (("min_batch", min_batch), ("opt_batch", opt_batch), ("max_batch", max_batch)):
            if value is not None and value != fixed_batch and not (param == "min_batch" and value == 1):
                raise InvalidInputError(f"the model's batch axis is fixed at {fixed_batch}, so {param} {value} is impossible; "
                                        "re-export the model with a dynamic batch axis", param=param)
        return (fixed_batch, fixed_batch, fixed_batch)
    high = max_batch if max_batch is not None else max(DEFAULT_MAX_BATCH, min_batch)
    opt = opt_batch if opt_batch is not None else min(max(DEFAULT_OPT_BATCH, min_batch), high)
    if min_batch < 1:
        raise InvalidInputError(f"min_batch must be at least 1, got {min_batch}", param="min_batch")
    if not min_batch <= opt <= high:
        raise InvalidInputError(f"batch sizes must satisfy min <= opt <= max, got {min_batch} <= {opt} <= {high}",
                                param="opt_batch")
    return (min_batch, opt, high)


def build_profile(input_shapes: Mapping[str, Sequence[Dim]], *, min_batch: int = 1, opt_batch: int | None = None,
                  max_batch: int | None = None, shapes: Mapping[str, Sequence[int]] | None = None) -> dict[str, TensorProfile]:
    """One TensorProfile per input. Axis 0 is the batch; the rest come from the graph or `shapes`."""
    if not input_shapes:
        raise InvalidInputError("the model has no inputs to build an optimization profile for")
    shapes = dict(shapes or {})
    profile: dict[str, TensorProfile] = {}
    for name, dims in input_shapes.items():
        if not dims:
            raise InvalidInputError(f"input '{name}' is a scalar; an optimization profile needs a batch axis")
        batch_dim = dims[0]
        fixed_batch = batch_dim if isinstance(batch_dim, int) else None
        low, opt, high = resolve_batch_range(fixed_batch, min_batch, opt_batch, max_batch)
        rest = list(dims[1:])
        given = shapes.get(name)
        if given is not None:
            if len(given) != len(rest):
                raise InvalidInputError(f"shapes for '{name}' has {len(given)} dimensions, but the input has {len(rest)} "
                                        f"besides the batch axis (shape {_text(dims)})")
            for axis, (want, got) in enumerate(zip(rest, given, strict=True), start=1):
                if isinstance(want, int) and want != got:
                    raise InvalidInputError(f"shapes for '{name}' sets axis {axis} to {got}, but the model fixes it at {want}",
                                            param="shapes")
            rest = list(given)
        missing = [axis for axis, d in enumerate(rest, start=1) if not isinstance(d, int)]
        if missing:
            raise InvalidInputError(f"input '{name}' has dynamic axes {missing} besides the batch (shape {_text(dims)}); "
                                    f"give them with shapes {name}:{'x'.join(str(d) if isinstance(d, int) else 'N' for d in rest)}")
        fixed = tuple(int(d) for d in rest)  # type: ignore[arg-type]
        profile[name] = TensorProfile(name, (low, *fixed), (opt, *fixed), (high, *fixed))
    extra = set(shapes) - set(input_shapes)
    if extra:
        raise InvalidInputError(f"shapes names unknown input(s) {sorted(extra)}", param="shapes")
    return profile


def _text(dims: Sequence[Dim]) -> str:
    return "(" + ", ".join(str(d) if isinstance(d, int) else (d or "?") for d in dims) + ")"


def profile_to_dict(profile: Mapping[str, TensorProfile]) -> dict[str, dict[str, list[int]]]:
    return {name: p.to_dict() for name, p in profile.items()}


def profile_from_dict(data: Mapping[str, Any]) -> dict[str, TensorProfile]:
    if not isinstance(data, Mapping) or not data:
        raise InvalidInputError("the plan's sidecar has no optimization profile")
    return {name: TensorProfile.from_dict(name, value) for name, value in data.items()}
