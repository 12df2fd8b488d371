"""The model zoo: parameter counts, torchvision compatibility, shapes, options."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from resnet_deploy.errors import InvalidInputError
from resnet_deploy.models import (
    Backbone,
    build_model,
    count_params,
    list_models,
    model_cost,
    resolve_model_name,
)

PARAMS_1000_CLASSES = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnext50_32x4d": 25_028_904,
    "wide_resnet50_2": 68_883_240,
}
PARAMS_CIFAR_10_CLASSES = {"resnet20": 269_722, "resnet56": 853_018, "resnet110": 1_727_962, "resnet1202": 19_421_274}
TORCHVISION_NAMES = list(PARAMS_1000_CLASSES)


def _meta_model(name: str, **kwargs: object) -> nn.Module:
    with torch.device("meta"):
        return build_model(name, **kwargs)


@pytest.mark.parametrize(("name", "expected"), sorted((PARAMS_1000_CLASSES | PARAMS_CIFAR_10_CLASSES).items()))
def test_parameter_counts_match_the_published_ones(name: str, expected: int) -> None:
    assert count_params(_meta_model(name)) == expected


def test_resnet50_macs_are_about_4_09_g() -> None:
    macs = model_cost("resnet50").macs
    assert abs(macs - 4.09e9) / 4.09e9 < 0.02, macs


def test_macs_scale_with_input_area() -> None:
    small, large = model_cost("resnet18", input_size=224).macs, model_cost("resnet18", input_size=448).macs
    assert 3.95 < large / small < 4.05


@pytest.mark.parametrize("name", TORCHVISION_NAMES)
def test_state_dict_keys_and_shapes_equal_torchvision(name: str, torchvision_models) -> None:
    with torch.device("meta"):
        reference = getattr(torchvision_models, name)().state_dict()
    ours = _meta_model(name).state_dict()
    assert list(ours) == list(reference)
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in reference.items()}


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnext50_32x4d"])
def test_torchvision_weights_load_strictly_and_give_the_same_outputs(name: str, torchvision_models) -> None:
    torch.manual_seed(0)
    reference = getattr(torchvision_models, name)().eval()
    # Random BN statistics so that a mis-wired BN would change the output.
    with torch.no_grad():
        for module in reference.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
    ours = build_model(name).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=0)


@pytest.mark.parametrize("entry", list_models(), ids=lambda e: e.name)
def test_every_registered_variant_runs_at_a_small_input(entry) -> None:
    if entry.depth >= 200 or entry.name.startswith(("wide_resnet101", "resnext101")):
        model = _meta_model(entry.name, num_classes=7)  # shape check only, no arithmetic
        x = torch.zeros(2, 3, 64, 64, device="meta")
    else:
        model = build_model(entry.name, num_classes=7).eval()
        x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert model(x).shape == (2, 7)


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "preact_resnet50", "resnext50_32x4d"])
def test_imagenet_features_have_strides_4_8_16_32(name: str) -> None:
    model = build_model(name).eval()
    with torch.no_grad():
        stages = Backbone(model)(torch.randn(1, 3, 128, 128))
    assert [128 // s.shape[-1] for s in stages] == [4, 8, 16, 32]
    assert [s.shape[1] for s in stages] == list(model.stage_channels)


def test_cifar_features_have_strides_1_2_4() -> None:
    stages = build_model("resnet20").forward_stages(torch.randn(1, 3, 32, 32))
    assert [tuple(s.shape[1:]) for s in stages] == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]


@pytest.mark.parametrize("depth", [20, 56, 110])
def test_option_a_adds_no_parameters_over_the_plain_net(depth: int) -> None:
    a = count_params(_meta_model(f"resnet{depth}"))
    assert a == count_params(_meta_model(f"plain{depth}"))
    b = count_params(_meta_model(f"resnet{depth}", shortcut="B"))
    c = count_params(_meta_model(f"resnet{depth}", shortcut="C"))
    assert a < b < c


def test_option_a_shortcut_is_subsampled_zero_padded_input() -> None:
    block = build_model("resnet20").layer2[0]
    x = torch.randn(1, 16, 8, 8)
    out = block.shortcut(x)
    assert out.shape == (1, 32, 4, 4)
    torch.testing.assert_close(out[:, 8:24], x[:, :, ::2, ::2])
    assert out[:, :8].abs().sum() == 0 and out[:, 24:].abs().sum() == 0


def test_plain_net_has_no_shortcut_path() -> None:
    model = build_model("plain20").eval()
    block = model.layer1[0]
    # Zero the branch: a residual block would pass its input through, a plain block gives 0.
    nn.init.zeros_(block.bn2.weight)
    nn.init.zeros_(block.bn2.bias)
    with torch.no_grad():
        assert block(torch.rand(1, 16, 8, 8)).abs().sum() == 0


def test_zero_init_residual_makes_blocks_start_as_identity() -> None:
    model = build_model("resnet18", zero_init_residual=True).eval()
    block = model.layer1[0]
    x = torch.rand(1, 64, 8, 8)  # non-negative, as after the stem's ReLU
    with torch.no_grad():
        torch.testing.assert_close(block(x), x)
    assert all(float(m.bn3.weight.detach().abs().sum()) == 0 for m in build_model("resnet50", zero_init_residual=True).modules()
               if hasattr(m, "bn3"))


def test_kaiming_init_like_torchvision() -> None:
    model = build_model("resnet50")
    conv = model.layer3[0].conv2  # fan_out = 256 * 3 * 3
    expected_std = (2.0 / (256 * 9)) ** 0.5
    assert abs(float(conv.weight.std()) - expected_std) / expected_std < 0.05
    assert float(model.bn1.weight.min()) == 1.0 and float(model.bn1.bias.abs().max()) == 0.0


def test_v1_puts_the_stride_on_the_first_1x1() -> None:
    v15 = build_model("resnet50").layer2[0]
    v1 = build_model("resnet50", stride_in_1x1=True).layer2[0]
    assert (v15.conv1.stride, v15.conv2.stride) == ((1, 1), (2, 2))
    assert (v1.conv1.stride, v1.conv2.stride) == ((2, 2), (1, 1))
    with torch.no_grad():
        assert v1(torch.randn(1, 256, 16, 16)).shape == v15(torch.randn(1, 256, 16, 16)).shape


@pytest.mark.parametrize("name", ["resnet18", "resnet20", "preact_resnet18"])
def test_grayscale_input_channels(name: str) -> None:
    model = build_model(name, in_channels=1, num_classes=10).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 32, 32)).shape == (2, 10)


def test_preact_has_final_bn_relu_before_pooling() -> None:
    model = build_model("preact_resnet18").eval()
    c5 = model.forward_stages(torch.randn(1, 3, 64, 64))[-1]
    assert float(c5.min()) >= 0.0  # ReLU'd
    assert isinstance(model.final_bn, nn.BatchNorm2d)


@pytest.mark.parametrize(("depth", "family", "name"), [(50, "imagenet", "resnet50"), (56, "cifar", "resnet56"),
                                                        (56, "plain", "plain56"), (200, "preact", "preact_resnet200"),
                                                        (50, "resnext", "resnext50_32x4d")])
def test_depth_and_family_resolve_to_names(depth: int, family: str, name: str) -> None:
    assert resolve_model_name(depth=depth, family=family) == name


def test_bad_depth_lists_the_valid_depths() -> None:
    with pytest.raises(InvalidInputError, match=r"valid depths for imagenet: 18, 34, 50, 101, 152"):
        resolve_model_name(depth=42)


def test_unknown_name_lists_the_valid_names() -> None:
    with pytest.raises(InvalidInputError, match=r"unknown model 'resnet51'.*resnet50"):
        build_model("resnet51")


def test_bad_constructor_arguments_are_value_errors() -> None:
    with pytest.raises(ValueError, match="6n\\+2"):
        from resnet_deploy.models import CifarResNet

        CifarResNet(21)
    with pytest.raises(ValueError, match="BasicBlock"):
        build_model("resnet18", groups=32)
    with pytest.raises(InvalidInputError, match="positive"):  # the constructor's own check, as bad input
        build_model("resnet18", num_classes=0)


def test_constructor_arguments_are_typed_by_the_constructor() -> None:
    """A wrong type is refused by name before the constructor runs (not a TypeError inside it)."""
    with pytest.raises(InvalidInputError, match=r"num_classes: Input should be a valid integer"):
        build_model("resnet20", num_classes="ten")
    with pytest.raises(InvalidInputError, match=r"zero_init_residual"):
        build_model("resnet18", zero_init_residual="maybe")
    with pytest.raises(InvalidInputError, match=r"does not take width"):
        build_model("resnet20", width=3)
    assert build_model("resnet20", num_classes=4, in_channels=1).fc.out_features == 4
