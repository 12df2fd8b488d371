"""The image-folder evaluation transform equals torchvision's published ImageNet recipe,
pixel for pixel, on real photos of non-square sizes (torchvision is a test-only reference)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from resnet_deploy.data import load_dataset

# (width, height): landscape and portrait ImageNet-typical sizes, odd sizes, a side below 256
# (upscaled), a very long strip, and sizes where rounding and truncation of the long side differ
# (640x427: 256*640/427 = 383.7).
SIZES = [(500, 375), (375, 500), (640, 427), (427, 640), (333, 500), (500, 333), (257, 301),
         (301, 257), (613, 409), (255, 383), (224, 300), (150, 200), (640, 97), (299, 299)]


@pytest.fixture(scope="module")
def torchvision_transforms(torchvision_models: object) -> object:  # the fixture prepares the import
    return pytest.importorskip("torchvision.transforms")


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real photos (scikit-learn's two sample JPEGs, CC BY 2.0, a test dependency), cut and
    scaled to each size, saved as PNG (lossless) and JPEG, in a train/ and val/ tree."""
    from PIL import Image

    pytest.importorskip("sklearn")
    images = resources.files("sklearn.datasets.images")
    photos = []
    for name in ("china.jpg", "flower.jpg"):
        with images.joinpath(name).open("rb") as handle, Image.open(handle) as opened:
            photos.append(opened.convert("RGB"))
    root = tmp_path_factory.mktemp("photos")
    for split in ("train", "val"):
        for index, (width, height) in enumerate(SIZES):
            photo = photos[index % 2]
            if width <= photo.width and height <= photo.height:  # a real crop at native resolution
                left, top = (photo.width - width) // 3, (photo.height - height) // 2
                image = photo.crop((left, top, left + width, top + height))
            else:  # a portrait or a larger size: the whole photo rescaled
                image = photo.resize((width, height), Image.Resampling.LANCZOS)
            folder = root / split / ("png" if index % 2 else "jpg")
            folder.mkdir(parents=True, exist_ok=True)
            image.save(folder / f"{index:02d}_{width}x{height}.{'png' if index % 2 else 'jpg'}")
    return root


def test_eval_transform_equals_torchvision_resize256_centercrop224(photo_folder: Path,
                                                                   torchvision_transforms: object) -> None:
    from torchvision import datasets, transforms  # type: ignore[import-untyped]

    reference = datasets.ImageFolder(str(photo_folder / "val"), transform=transforms.Compose([
        transforms.Resize(256, interpolation=transforms.InterpolationMode.BILINEAR),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ]))
    ours, info = load_dataset("imagefolder", "val", photo_folder)
    assert len(ours) == len(reference) == len(SIZES)  # type: ignore[arg-type]
    assert list(info.class_names) == reference.classes
    for index in range(len(reference)):
        expected, expected_label = reference[index]
        got, label = ours[index]
        assert label == expected_label and got.shape == expected.shape == (3, 224, 224)
        difference = float((got - expected).abs().max())
        assert difference < 1e-6, f"{reference.samples[index][0]}: max abs difference {difference}"


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_resize_shorter_truncates_the_long_side_as_torchvision(width: int, height: int,
                                                               torchvision_transforms: object) -> None:
    from torchvision.transforms.functional import _compute_resized_output_size  # type: ignore[import-untyped]

    from resnet_deploy.data.transforms import resize_shorter

    new_height, new_width = _compute_resized_output_size((height, width), [256])
    assert resize_shorter(width, height, 256) == (new_width, new_height)


def test_eval_transform_at_another_input_size_keeps_the_256_to_224_ratio(photo_folder: Path) -> None:
    ours, _ = load_dataset("imagefolder", "val", photo_folder, input_size=112)
    x, _ = ours[0]
    assert x.shape == (3, 112, 112) and x.dtype == torch.float32 and np.isfinite(x.numpy()).all()
