"""ResNet families and the registry that names them.

    from resnet_deploy.models import build_model, resolve_model_name
    model = build_model(resolve_model_name(depth=50))           # torchvision-compatible resnet50
    model = build_model("resnet20", num_classes=10, in_channels=1)
"""

from resnet_deploy.models import cifar, imagenet, preact  # noqa: F401  (fill the registry)
from resnet_deploy.models.blocks import Backbone, BasicBlock, Bottleneck
from resnet_deploy.models.cifar import CifarResNet
from resnet_deploy.models.imagenet import ResNet
from resnet_deploy.models.macs import ModelCost, count_macs, count_params, model_cost
from resnet_deploy.models.preact import PreActResNet
from resnet_deploy.models.registry import (
    FAMILIES,
    ModelEntry,
    build_model,
    get_entry,
    list_models,
    register_model,
    resolve_model_name,
)

__all__ = [
    "FAMILIES",
    "Backbone",
    "BasicBlock",
    "Bottleneck",
    "CifarResNet",
    "ModelCost",
    "ModelEntry",
    "PreActResNet",
    "ResNet",
    "build_model",
    "count_macs",
    "count_params",
    "get_entry",
    "list_models",
    "model_cost",
    "register_model",
    "resolve_model_name",
]
