"""What a model expects as input: shape, dtype, layout, normalisation and class names.

One object travels from the dataset to the checkpoint sidecar, into the ONNX metadata and the
plan sidecar, so every stage preprocesses exactly as training did.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.jsontypes import JsonObject

IMAGENET_MEAN: tuple[float, ...] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, ...] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputSpec:
    channels: int
    height: int
    width: int
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    layout: str = "NCHW"
    dtype: str = "float32"
    class_names: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.channels < 1 or self.height < 1 or self.width < 1:
            raise InvalidInputError(f"input spec needs positive channels/height/width, got {self.channels}x{self.height}x{self.width}")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise InvalidInputError(f"mean/std need one value per channel ({self.channels}), got {len(self.mean)} and {len(self.std)}")

    @property
    def num_classes(self) -> int | None:
        return len(self.class_names) or None

    def shape(self, batch: int | str = "N") -> tuple[int | str, ...]:
        """The NCHW shape for `batch` (an int, or a symbolic name for a dynamic axis)."""
        return (batch, self.channels, self.height, self.width)

    def to_dict(self) -> JsonObject:
        data = asdict(self)
        data["mean"], data["std"], data["class_names"] = list(self.mean), list(self.std), list(self.class_names)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        try:
            return cls(channels=int(data["channels"]), height=int(data["height"]), width=int(data["width"]),
                       mean=tuple(float(v) for v in data.get("mean", IMAGENET_MEAN)),
                       std=tuple(float(v) for v in data.get("std", IMAGENET_STD)),
                       layout=str(data.get("layout", "NCHW")), dtype=str(data.get("dtype", "float32")),
                       class_names=tuple(str(c) for c in data.get("class_names", ())))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"malformed input spec {data!r}: {exc}") from exc

    def with_size(self, height: int, width: int) -> InputSpec:
        return InputSpec(self.channels, height, width, self.mean, self.std, self.layout, self.dtype, self.class_names)


def default_input_spec(channels: int, size: int, num_classes: int) -> InputSpec:
    """The spec of an untrained model: ImageNet statistics (or 0.5 for non-RGB), numbered classes."""
    if channels == 3:
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        mean, std = (0.5,) * channels, (0.5,) * channels
    return InputSpec(channels, size, size, mean, std, class_names=tuple(str(i) for i in range(num_classes)))
