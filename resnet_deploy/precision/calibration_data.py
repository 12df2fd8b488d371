"""Calibration images for a model: a dataset's training split, a .npy array, or seeded random data.

Everything is checked against the model's input (dtype, rank, channels, size, finite values)
before any calibration runs. Two sources exist for models that have no matching dataset —
an ImageNet-shaped model on a machine without ImageNet — and both say loudly that the ranges
they give are good for speed work, not for accuracy:
- a 1-channel dataset (digits, mnist) for a 3-channel model: grey images replicated to every
  channel, resized to the model's input and normalised with the model's mean/std;
- `random`: seeded standard-normal images in the model's normalised input space.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from resnet_deploy.data.registry import DATASETS
from resnet_deploy.errors import InvalidInputError
from resnet_deploy.export.artifact import ImageInput
from resnet_deploy.input_spec import IMAGENET_MEAN, IMAGENET_STD, InputSpec
from resnet_deploy.precision._model import SourceModel, recorded_spec
from resnet_deploy.sidecar import require_file
from resnet_deploy.tensor_info import to_layout

log = logging.getLogger(__name__)

RANDOM = "random"
DEFAULT_SAMPLES = 512  # NVIDIA's guidance for CNN calibration: about 500 images
RANDOM_SEED = 0
NOT_REPRESENTATIVE = ("good for speed work, not for accuracy: the ranges do not represent this model's real inputs; "
                      "calibrate on images like the ones it will serve (a dataset or a .npy) before measuring accuracy")


@dataclass(frozen=True)
class CalibrationData:
    array: np.ndarray  # float32 NCHW, already normalized as the model expects
    source: str  # dataset name, .npy path or "random"
    sha256: str
    conversion: str | None = None  # how a dataset was adapted to the model (channels, size), if it was
    representative: bool = True  # False for random data and converted datasets

    @property
    def samples(self) -> int:
        return int(self.array.shape[0])

    def describe(self) -> str:
        """One line for metadata and reports: what the images are and what they are good for."""
        text = self.source + (f" ({self.conversion})" if self.conversion else "")
        return text if self.representative else f"{text}; not representative of real inputs"


def array_sha256(array: np.ndarray) -> str:
    """sha256 of a C-contiguous array's bytes, without the copy `tobytes()` makes."""
    return hashlib.sha256(np.ascontiguousarray(array).reshape(-1).view(np.uint8).data).hexdigest()


def _shape_text(shape: tuple[int | str | None, ...]) -> str:
    return "(" + ", ".join(str(d) if isinstance(d, int) and d >= 0 else "N" for d in shape) + ")"


def check_array(array: np.ndarray, source: SourceModel, what: str) -> None:
    """Refuse an array that is not normalized float32 images of the model's input shape (in
    the model's own layout)."""
    layout = source.artifact.layout or "NCHW"
    if array.dtype != np.float32:
        raise InvalidInputError(f"{what} has dtype {array.dtype}; calibration data must be float32 "
                                f"(normalized {layout} images, as the model's input)", param="calib")
    tensor = source.input
    shape = tensor.shape
    if array.ndim != len(shape):
        raise InvalidInputError(f"{what} has shape {array.shape}; the model's input '{tensor.name}' needs "
                                f"{len(shape)} dimensions ({', '.join(layout)})", param="calib")
    channel_axis = 1 if layout == "NCHW" else len(shape) - 1
    expected = tensor.dim(channel_axis) if len(shape) >= 2 else None
    if expected is not None and array.shape[channel_axis] != expected:
        raise InvalidInputError(f"{what} has {array.shape[channel_axis]} channels; the model expects {expected} "
                                f"(shape {array.shape} vs model input {_shape_text(shape)})", param="calib")
    for axis in range(1, len(shape)):
        want = tensor.dim(axis)
        if want is not None and array.shape[axis] != want:
            raise InvalidInputError(f"{what} has shape {array.shape}; the model's input is {_shape_text(shape)}",
                                    param="calib")
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{what} contains NaN or Inf values", param="calib")


def _geometry(source: SourceModel, input_size: tuple[int, int] | None) -> ImageInput:
    """The model's image input at the size calibration feeds it (`input_size` for a model
    whose height/width are dynamic, else its fixed or recorded size)."""
    return source.artifact.image_input(input_size, who=str(source.path))


def input_size(source: SourceModel, size: tuple[int, int] | None = None) -> int | None:
    """The model's (square) image size, for the dataset readers' resize (None: the dataset's
    own, for a model whose height/width are dynamic and no `size` given)."""
    try:
        image = _geometry(source, size)
    except InvalidInputError as exc:
        if exc.param != "input_size":
            raise
        return None
    return image.chw[1] if image.chw[1] == image.chw[2] else None


def _model_normalisation(source: SourceModel, channels: int) -> tuple[np.ndarray, np.ndarray, str]:
    spec = recorded_spec(source)
    if spec is not None and spec.channels == channels:
        return np.asarray(spec.mean, np.float32), np.asarray(spec.std, np.float32), "the model's mean/std"
    if channels == 3:
        return np.asarray(IMAGENET_MEAN, np.float32), np.asarray(IMAGENET_STD, np.float32), "ImageNet mean/std (the model records none)"
    return np.full(channels, 0.5, np.float32), np.full(channels, 0.5, np.float32), "mean 0.5/std 0.5 (the model records none)"


def _resolve_samples(samples: int | None, available: int, what: str) -> int:
    """How many samples to use. The default takes up to DEFAULT_SAMPLES and, when the data
    holds fewer, all of them with a warning; an explicit count the data cannot meet is refused."""
    if samples is None:
        if available < DEFAULT_SAMPLES:
            log.warning("%s holds %d samples, fewer than the default %d: calibrating on all %d "
                        "(NVIDIA recommends about 500 for CNNs)", what, available, DEFAULT_SAMPLES, available)
        return min(available, DEFAULT_SAMPLES)
    if samples > available:
        raise InvalidInputError(f"{what} has {available} samples, fewer than the {samples} asked for; ask for at most "
                                f"{available}, or leave samples unset to use all of them", param="samples")
    return samples


def _from_npy(calib: str, source: SourceModel, samples: int | None) -> CalibrationData:
    path = require_file(calib, "calibration array")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InvalidInputError(f"'{path}' is not a readable .npy array ({exc})", param="calib") from exc
    what = f"calibration array '{path}'"
    if source.artifact.layout == "NHWC" and array.ndim == 4 and _fits(array.shape, source.input.shape, "NCHW"):
        array = array.transpose(0, 2, 3, 1)  # NCHW images for an NHWC model
    check_array(array, source, what)
    if array.shape[0] < 1:
        raise InvalidInputError(f"{what} holds no images", param="calib")
    count = _resolve_samples(samples, int(array.shape[0]), what)
    contiguous = np.ascontiguousarray(array[:count])
    return CalibrationData(contiguous, str(path), array_sha256(contiguous))


def _fits(shape: tuple[int, ...], model: tuple[int | str | None, ...], layout: str) -> bool:
    """Whether an NCHW array of `shape` holds the images of an NHWC `model` input."""
    if layout != "NCHW" or len(model) != 4:
        return False
    transposed = (shape[0], shape[2], shape[3], shape[1])
    return all(not isinstance(m, int) or m < 0 or m == d for m, d in zip(model[1:], transposed[1:], strict=True))


def _random(source: SourceModel, samples: int | None, input_size: tuple[int, int] | None) -> CalibrationData:
    image = _geometry(source, input_size)
    count = samples if samples is not None else DEFAULT_SAMPLES
    array = np.random.default_rng(RANDOM_SEED).standard_normal(image.shape(count), dtype=np.float32)
    log.warning("calibrating on %d seeded random images (standard normal in the normalised input space): %s",
                count, NOT_REPRESENTATIVE)
    return CalibrationData(array, RANDOM, array_sha256(array), conversion=f"seed {RANDOM_SEED}, standard normal",
                           representative=False)


def _from_dataset(calib: str, source: SourceModel, samples: int | None, data_dir: str | os.PathLike[str] | None,
                  input_size: tuple[int, int] | None) -> CalibrationData:
    from resnet_deploy.data import eval_arrays, load_dataset

    what = f"dataset '{calib}' (train split)"
    try:
        image: ImageInput | None = _geometry(source, input_size)
    except InvalidInputError as exc:
        if exc.param != "input_size":
            raise
        image = None  # a dynamic height/width and no size given: the dataset's own
    channels = image.chw[0] if image is not None else None
    _, info = load_dataset(calib, "train", data_dir)
    count = _resolve_samples(samples, info.size, what)
    if channels is None or channels == info.input_spec.channels:
        size = image.chw[1] if image is not None and image.chw[1] == image.chw[2] else None
        # Calibrate on the training split: the validation split is kept for measuring accuracy.
        array, _ = eval_arrays(calib, data_dir=data_dir, split="train", limit=count, input_size=size)
        array = np.ascontiguousarray(to_layout(np.asarray(array), source.artifact.layout))
        check_array(array, source, what)
        return CalibrationData(array, calib, array_sha256(array))
    if info.input_spec.channels != 1:
        raise InvalidInputError(f"{what} has {info.input_spec.channels} channels; the model expects {channels}. "
                                f"Give a dataset or .npy with {channels}-channel images, or calib='random' for "
                                f"speed work", param="calib")
    assert image is not None
    return _grey_to_model(calib, source, image, count, data_dir, what, info.input_spec)


def _grey_to_model(calib: str, source: SourceModel, image: ImageInput, count: int,
                   data_dir: str | os.PathLike[str] | None, what: str, spec: InputSpec) -> CalibrationData:
    """A 1-channel dataset made to fit a C-channel model: the same fixed subset as for a
    1-channel model, un-normalised, resized, replicated to every channel, normalised as the model."""
    import torch

    from resnet_deploy.data import eval_arrays
    from resnet_deploy.data.transforms import resize_batch

    channels, height, width = image.chw
    if height != width:
        raise InvalidInputError(f"{what} can be converted to square inputs only; the model's is {height}x{width}",
                                param="calib")
    grey, _ = eval_arrays(calib, data_dir=data_dir, split="train", limit=count)
    pixels = torch.from_numpy(grey * np.float32(spec.std[0]) + np.float32(spec.mean[0])).clamp_(0.0, 1.0)
    native = pixels.shape[-1]
    pixels = resize_batch(pixels, height)
    mean, std, norm = _model_normalisation(source, channels)
    array = np.repeat(pixels.numpy(), channels, axis=1)  # a new float32 array: normalised in place
    del pixels
    array -= mean[None, :, None, None]
    array /= std[None, :, None, None]
    array = to_layout(array, image.layout)
    check_array(array, source, what)
    conversion = f"grey 1 -> {channels} channels, {native} -> {height} px, {norm}"
    log.warning("calibrating a %d-channel %dx%d model on %s converted (%s): %s",
                channels, height, width, calib, conversion, NOT_REPRESENTATIVE)
    return CalibrationData(array, calib, array_sha256(array), conversion=conversion, representative=False)


def load_calibration_data(calib: str, source: SourceModel, *, samples: int | None = None,
                          data_dir: str | os.PathLike[str] | None = None,
                          input_size: tuple[int, int] | None = None) -> CalibrationData:
    """Calibration images for `source` from a dataset name (training split, evaluation
    transform), a .npy file of normalized float32 images (NCHW, or the model's own layout),
    or "random". `input_size` (H, W) is the size for a model whose height/width are dynamic
    (random data needs one; a dataset otherwise keeps its own).

    `samples=None` takes up to 512 and, when the data holds fewer, all of it (with a warning);
    an explicit `samples` the data cannot meet is refused (InvalidInputError, param "samples")."""
    if samples is not None and samples < 1:
        raise InvalidInputError(f"samples must be positive, got {samples}", param="samples")
    if calib.endswith(".npy") or Path(calib).suffix == ".npy":
        return _from_npy(calib, source, samples)
    if calib == RANDOM:
        return _random(source, samples, input_size)
    if calib in DATASETS:
        return _from_dataset(calib, source, samples, data_dir, input_size)
    raise InvalidInputError(f"unknown calibration data {calib!r}: give a .npy file, one of {', '.join(DATASETS)}, "
                            f"or '{RANDOM}' (speed work only)", param="calib")
