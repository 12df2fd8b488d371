"""ImageNet ResNets: ResNet-18/34/50/101/152, ResNeXt and Wide ResNet (torchvision layout).

The state_dict keys and shapes equal torchvision's `models/resnet.py`, so its checkpoints load
with strict=True and give the same outputs.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from resnet_deploy.models.blocks import (
    BasicBlock,
    Bottleneck,
    NormLayer,
    StagedClassifier,
    conv1x1,
    init_weights,
)
from resnet_deploy.models.registry import register_model

Block = type[BasicBlock] | type[Bottleneck]


class ResNet(StagedClassifier):
    """Stem (7x7/2 conv, max-pool), four stages of residual blocks, global pool, linear head."""

    stage_strides = (4, 8, 16, 32)

    def __init__(self, block: Block, layers: list[int], num_classes: int = 1000, *, in_channels: int = 3,
                 zero_init_residual: bool = False, groups: int = 1, width_per_group: int = 64,
                 stride_in_1x1: bool = False, norm_layer: NormLayer | None = None) -> None:
        super().__init__()
        if len(layers) != 4 or any(n < 1 for n in layers):
            raise ValueError(f"layers must be four positive block counts, got {layers}")
        if num_classes < 1 or in_channels < 1:
            raise ValueError(f"num_classes and in_channels must be positive, got {num_classes} and {in_channels}")
        if stride_in_1x1 and block is not Bottleneck:
            raise ValueError("stride_in_1x1 moves the stride of a Bottleneck block (ResNet-50 and deeper); "
                             f"{block.__name__} has no 1x1 convolution")
        self._norm_layer = norm_layer or nn.BatchNorm2d
        self.inplanes = 64
        self.groups = groups
        self.base_width = width_per_group
        self.stride_in_1x1 = stride_in_1x1
        self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = self._norm_layer(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        self.stage_channels = tuple(c * block.expansion for c in (64, 128, 256, 512))

        init_weights(self)
        if zero_init_residual:
            # Each residual branch starts as zero, so each block starts as the identity
            # (Goyal et al., "Accurate, Large Minibatch SGD").
            for module in self.modules():
                if isinstance(module, Bottleneck):
                    nn.init.zeros_(module.bn3.weight)  # type: ignore[arg-type]
                elif isinstance(module, BasicBlock):
                    nn.init.zeros_(module.bn2.weight)  # type: ignore[arg-type]

    def _make_layer(self, block: Block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       self._norm_layer(planes * block.expansion))
        extra: dict[str, Any] = {"stride_in_1x1": self.stride_in_1x1} if block is Bottleneck else {}
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width,
                        norm_layer=self._norm_layer, **extra)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups, base_width=self.base_width,
                                norm_layer=self._norm_layer, **extra))
        return nn.Sequential(*layers)

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        """The four stage outputs, at strides 4, 8, 16 and 32."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return [c2, c3, c4, c5]



def _resnet(block: Block, layers: list[int], **kwargs: object) -> ResNet:
    return ResNet(block, layers, **kwargs)  # type: ignore[arg-type]


@register_model("resnet18", family="imagenet", depth=18, block="basic", input_size=224, model_class=ResNet)
def resnet18(**kwargs: object) -> ResNet:
    return _resnet(BasicBlock, [2, 2, 2, 2], **kwargs)


@register_model("resnet34", family="imagenet", depth=34, block="basic", input_size=224, model_class=ResNet)
def resnet34(**kwargs: object) -> ResNet:
    return _resnet(BasicBlock, [3, 4, 6, 3], **kwargs)


@register_model("resnet50", family="imagenet", depth=50, block="bottleneck", input_size=224, model_class=ResNet)
def resnet50(**kwargs: object) -> ResNet:
    return _resnet(Bottleneck, [3, 4, 6, 3], **kwargs)


@register_model("resnet101", family="imagenet", depth=101, block="bottleneck", input_size=224, model_class=ResNet)
def resnet101(**kwargs: object) -> ResNet:
    return _resnet(Bottleneck, [3, 4, 23, 3], **kwargs)


@register_model("resnet152", family="imagenet", depth=152, block="bottleneck", input_size=224, model_class=ResNet)
def resnet152(**kwargs: object) -> ResNet:
    return _resnet(Bottleneck, [3, 8, 36, 3], **kwargs)


@register_model("resnext50_32x4d", family="resnext", depth=50, block="bottleneck", input_size=224, model_class=ResNet)
def resnext50_32x4d(**kwargs: object) -> ResNet:
    return _resnet(Bottleneck, [3, 4, 6, 3], groups=32, width_per_group=4, **kwargs)


@register_model("resnext101_32x8d", family="resnext", depth=101, block="bottleneck", input_size=224, model_class=ResNet)
def resnext101_32x8d(**kwargs: object) -> ResNet:
    return _resnet(Bottleneck, [3, 4, 23, 3], groups=32, width_per_group=8, **kwargs)


@register_model("wide_resnet50_2", family="wide", depth=50, block="bottleneck", input_size=224, model_class=ResNet)
def wide_resnet50_2(**kwargs: object) -> ResNet:
    return _resnet(Bottleneck, [3, 4, 6, 3], width_per_group=64 * 2, **kwargs)


@register_model("wide_resnet101_2", family="wide", depth=101, block="bottleneck", input_size=224, model_class=ResNet)
def wide_resnet101_2(**kwargs: object) -> ResNet:
    return _resnet(Bottleneck, [3, 4, 23, 3], width_per_group=64 * 2, **kwargs)
