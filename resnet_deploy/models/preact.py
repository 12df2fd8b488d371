"""Pre-activation ResNets (He et al. 2016, "Identity Mappings in Deep Residual Networks").

Each block applies BN-ReLU before each convolution and adds its input unchanged, so the
shortcut path stays a pure identity; a final BN-ReLU follows the last stage. Where the shape
changes, the 1x1 projection takes the pre-activated input, as in the paper's code. The stem is
a 7x7/2 convolution and a max-pool with no BN-ReLU of its own: the first block pre-activates.
"""

from __future__ import annotations

from torch import Tensor, nn

from resnet_deploy.models.blocks import StagedClassifier, conv1x1, conv3x3, init_weights
from resnet_deploy.models.registry import register_model


class PreActBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.relu = nn.ReLU(inplace=False)
        self.downsample = conv1x1(inplanes, planes, stride) if stride != 1 or inplanes != planes else None

    def forward(self, x: Tensor) -> Tensor:
        pre = self.relu(self.bn1(x))
        shortcut = self.downsample(pre) if self.downsample is not None else x
        out = self.conv1(pre)
        out = self.conv2(self.relu(self.bn2(out)))
        return out + shortcut


class PreActBottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_planes = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.conv1 = conv1x1(inplanes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, out_planes)
        self.relu = nn.ReLU(inplace=False)
        self.downsample = conv1x1(inplanes, out_planes, stride) if stride != 1 or inplanes != out_planes else None

    def forward(self, x: Tensor) -> Tensor:
        pre = self.relu(self.bn1(x))
        shortcut = self.downsample(pre) if self.downsample is not None else x
        out = self.conv1(pre)
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        return out + shortcut


PreActBlock = type[PreActBasicBlock] | type[PreActBottleneck]


class PreActResNet(StagedClassifier):
    stage_strides = (4, 8, 16, 32)

    def __init__(self, block: PreActBlock, layers: list[int], num_classes: int = 1000, *,
                 in_channels: int = 3, zero_init_residual: bool = False) -> None:
        super().__init__()
        if len(layers) != 4 or any(n < 1 for n in layers):
            raise ValueError(f"layers must be four positive block counts, got {layers}")
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0], 1)
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        self.final_bn = nn.BatchNorm2d(512 * block.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        self.stage_channels = tuple(c * block.expansion for c in (64, 128, 256, 512))
        init_weights(self)
        if zero_init_residual:
            # The last conv of each branch starts at zero, so each block starts as the identity.
            for module in self.modules():
                if isinstance(module, PreActBottleneck):
                    nn.init.zeros_(module.conv3.weight)
                elif isinstance(module, PreActBasicBlock):
                    nn.init.zeros_(module.conv2.weight)

    def _make_layer(self, block: PreActBlock, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for block_stride in [stride] + [1] * (blocks - 1):
            layers.append(block(self.inplanes, planes, block_stride))
            self.inplanes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        x = self.maxpool(self.conv1(x))
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.relu(self.final_bn(self.layer4(c4)))
        return [c2, c3, c4, c5]



_PREACT_DEPTHS: dict[int, tuple[PreActBlock, list[int]]] = {
    18: (PreActBasicBlock, [2, 2, 2, 2]),
    34: (PreActBasicBlock, [3, 4, 6, 3]),
    50: (PreActBottleneck, [3, 4, 6, 3]),
    101: (PreActBottleneck, [3, 4, 23, 3]),
    152: (PreActBottleneck, [3, 8, 36, 3]),
    200: (PreActBottleneck, [3, 24, 36, 3]),
}


def _register(depth: int) -> None:
    block, layers = _PREACT_DEPTHS[depth]

    def builder(**kwargs: object) -> PreActResNet:
        return PreActResNet(block, layers, **kwargs)  # type: ignore[arg-type]

    builder.__doc__ = f"Pre-activation ResNet-{depth} (v2)."
    kind = "basic" if block is PreActBasicBlock else "bottleneck"
    register_model(f"preact_resnet{depth}", family="preact", depth=depth, block=kind, input_size=224,
                   model_class=PreActResNet)(builder)


for _depth in _PREACT_DEPTHS:
    _register(_depth)
