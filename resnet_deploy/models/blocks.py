"""Convolution helpers and the two residual blocks of the ImageNet ResNets (torchvision layout).

Both blocks take the same constructor arguments and carry `expansion`, so one `_make_layer`
builds either. The attribute names (conv1, bn1, ..., downsample) are the checkpoint format:
torchvision's weights load into them with strict=True.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

NormLayer = Callable[[int], nn.Module]


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1, dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding, no bias (a BatchNorm follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation,
                     groups=groups, bias=False, dilation=dilation)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, no bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions (ResNet-18/34)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64, dilation: int = 1,
                 norm_layer: NormLayer | None = None) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError(f"BasicBlock supports only groups=1 and width_per_group=64, got groups={groups}, width_per_group={base_width}")
        if dilation > 1:
            raise ValueError(f"BasicBlock does not support dilation > 1, got {dilation}")
        norm_layer = norm_layer or nn.BatchNorm2d
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (ResNet-50 and deeper, ResNeXt, Wide ResNet).

    The stride sits on the 3x3 convolution (ResNet v1.5, torchvision's default); with
    `stride_in_1x1=True` it sits on the first 1x1, as in the original paper (v1).
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64, dilation: int = 1,
                 norm_layer: NormLayer | None = None, stride_in_1x1: bool = False) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = conv1x1(inplanes, width, stride_1x1)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride_3x3, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


def init_weights(model: nn.Module) -> None:
    """Kaiming-normal (fan_out, ReLU) convolutions, BN weight 1 / bias 0, as torchvision does.
    Linear layers keep PyTorch's default initialisation, as in torchvision."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(module.weight, 1)
            nn.init.constant_(module.bias, 0)


class Backbone(nn.Module):
    """Wraps a ResNet so that forward returns its stage outputs as a tuple (for export as a
    detection or segmentation backbone)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if not hasattr(model, "forward_stages"):
            raise ValueError(f"{type(model).__name__} has no forward_stages(); it cannot be used as a backbone")
        self.model = model

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        stages: list[Tensor] = self.model.forward_stages(x)  # type: ignore[operator]
        return tuple(stages)

    def stage_names(self) -> list[str]:
        """Output names: c<log2(stride)> (c2..c5 for ImageNet ResNets, the FPN convention),
        or stage1..N when the model does not list its strides."""
        strides = getattr(self.model, "stage_strides", None)
        if strides:
            return [f"c{round(math.log2(s))}" for s in strides]
        with torch.no_grad():
            count = len(self.model.forward_stages(torch.zeros(1, 3, 32, 32)))  # type: ignore[operator]
        return [f"stage{i + 1}" for i in range(count)]


def flatten_logits(x: Tensor) -> Tensor:
    return torch.flatten(x, 1)


class StagedClassifier(nn.Module):
    """The forward path every family shares: stages, then global pooling and the linear head.
    Subclasses define `forward_stages`, `avgpool` and `fc` (the names are the checkpoint format)."""

    avgpool: nn.Module
    fc: nn.Module

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        raise NotImplementedError

    def forward_features(self, x: Tensor) -> Tensor:
        """The last stage's feature map."""
        return self.forward_stages(x)[-1]

    def forward_head(self, x: Tensor) -> Tensor:
        return self.fc(flatten_logits(self.avgpool(x)))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))
