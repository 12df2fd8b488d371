"""CIFAR-style ResNets and their plain counterparts (He et al. 2015, section 4.2).

6n+2 layers: a 3x3 stem with 16 channels, three stages of n basic blocks with 16/32/64
channels (stride 2 at the start of stages 2 and 3), global pooling and a linear head; 32x32
input. Shortcut options from the paper:
  A  parameter-free: stride-2 subsampling and zero-padded channels where the shape changes;
  B  a 1x1 projection (+BN) only where the shape changes, identity elsewhere;
  C  a 1x1 projection (+BN) on every block.
`plainN` is the same network with no shortcuts, for the degradation experiment.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from resnet_deploy.models.blocks import StagedClassifier, conv1x1, conv3x3, init_weights
from resnet_deploy.models.registry import register_model

CIFAR_DEPTHS = (20, 32, 44, 56, 110, 1202)
SHORTCUTS = ("A", "B", "C", "none")


class ZeroPadShortcut(nn.Module):
    """Option A: subsample spatially by `stride` and zero-pad the new channels. No parameters."""

    def __init__(self, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        if out_planes < in_planes:
            raise ValueError(f"option A cannot reduce channels ({in_planes} -> {out_planes})")
        self.stride = stride
        extra = out_planes - in_planes
        self.pad_before, self.pad_after = extra // 2, extra - extra // 2

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad_before, self.pad_after))


class CifarBasicBlock(nn.Module):
    """Two 3x3 convolutions with an option A/B/C shortcut, or none (plain net)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut: str = "A") -> None:
        super().__init__()
        if shortcut not in SHORTCUTS:
            raise ValueError(f"unknown shortcut option {shortcut!r}; valid: {', '.join(SHORTCUTS)}")
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.residual = shortcut != "none"
        shape_changes = stride != 1 or in_planes != planes
        self.shortcut: nn.Module
        if shortcut == "C" or (shortcut == "B" and shape_changes):
            self.shortcut = nn.Sequential(conv1x1(in_planes, planes, stride), nn.BatchNorm2d(planes))
        elif shortcut == "A" and shape_changes:
            self.shortcut = ZeroPadShortcut(in_planes, planes, stride)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + self.shortcut(x)
        return self.relu(out)


class CifarResNet(StagedClassifier):
    """The 6n+2-layer network for 32x32 images; `shortcut="none"` gives the plain net."""

    stage_strides = (1, 2, 4)
    stage_channels = (16, 32, 64)

    def __init__(self, depth: int, num_classes: int = 10, *, shortcut: str = "A", in_channels: int = 3,
                 zero_init_residual: bool = False) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2 (e.g. {', '.join(map(str, CIFAR_DEPTHS))}), got {depth}")
        if shortcut not in SHORTCUTS:
            raise ValueError(f"unknown shortcut option {shortcut!r}; valid: {', '.join(SHORTCUTS)}")
        n = (depth - 2) // 6
        self.depth = depth
        self.in_planes = 16
        self.conv1 = conv3x3(in_channels, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(16, n, 1, shortcut)
        self.layer2 = self._make_layer(32, n, 2, shortcut)
        self.layer3 = self._make_layer(64, n, 2, shortcut)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        init_weights(self)
        if zero_init_residual and shortcut != "none":
            for module in self.modules():
                if isinstance(module, CifarBasicBlock):
                    nn.init.constant_(module.bn2.weight, 0)

    def _make_layer(self, planes: int, blocks: int, stride: int, shortcut: str) -> nn.Sequential:
        layers = []
        for block_stride in [stride] + [1] * (blocks - 1):
            layers.append(CifarBasicBlock(self.in_planes, planes, block_stride, shortcut))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        """The three stage outputs, at strides 1, 2 and 4."""
        x = self.relu(self.bn1(self.conv1(x)))
        c1 = self.layer1(x)
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        return [c1, c2, c3]



def _register_depth(depth: int) -> None:
    def resnet(**kwargs: object) -> CifarResNet:
        return CifarResNet(depth, **kwargs)  # type: ignore[arg-type]

    def plain(**kwargs: object) -> CifarResNet:
        kwargs.pop("shortcut", None)
        return CifarResNet(depth, shortcut="none", **kwargs)  # type: ignore[arg-type]

    resnet.__doc__ = f"CIFAR ResNet-{depth} (shortcut option A by default; shortcut='B'/'C')."
    plain.__doc__ = f"Plain {depth}-layer CIFAR network: ResNet-{depth} without shortcuts."
    register_model(f"resnet{depth}", family="cifar", depth=depth, block="basic", input_size=32,
                   model_class=CifarResNet)(resnet)
    register_model(f"plain{depth}", family="plain", depth=depth, block="basic", input_size=32,
                   model_class=CifarResNet)(plain)


for _depth in CIFAR_DEPTHS:
    _register_depth(_depth)
