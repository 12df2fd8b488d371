"""Load and save ONNX models with one clear error for every way a file can be wrong.

`onnx.load` answers a truncated file, a JPEG renamed to .onnx or a model whose `.onnx.data`
went missing with a protobuf traceback (or, worse, with a half-parsed model). Every reader in
this project goes through `load_onnx_model`, which turns each of those into one
ArtifactError line saying what is wrong and what to do.

Saving writes a single self-contained file below protobuf's 2 GB limit and external data
above it (the only case where a side file is needed), always atomically.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
from onnx import TensorProto

from resnet_deploy.atomic import atomic_write_with, check_output_dir, commit_file, temp_folder
from resnet_deploy.errors import ArtifactError
from resnet_deploy.export.onnx_record import ONNX_KIND, OnnxSidecar
from resnet_deploy.sidecar import artifact_meta, require_file, write_artifact

log = logging.getLogger(__name__)

# protobuf refuses to serialise a message of 2 GiB or more; stay a margin below it.
PROTOBUF_LIMIT = 2**31 - 1
EXTERNAL_DATA_THRESHOLD = PROTOBUF_LIMIT - 64 * 2**20
_DATA_NAME = re.compile(r".+\.[0-9a-f]{8}\.data$")


def _uses_external_data(model: onnx.ModelProto) -> list[TensorProto]:
    return [t for t in model.graph.initializer if t.data_location == TensorProto.EXTERNAL]


def _external_info(tensor: TensorProto) -> dict[str, str]:
    return {entry.key: entry.value for entry in tensor.external_data}


def external_data_files(model: onnx.ModelProto) -> list[str]:
    """The side files (relative locations) this model's initializers live in, in order."""
    seen: dict[str, None] = {}
    for tensor in _uses_external_data(model):
        seen.setdefault(_external_info(tensor).get("location", ""), None)
    return list(seen)


def _check_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Every external tensor's file must exist and be long enough, before onnx reads it."""
    base = path.parent
    for tensor in _uses_external_data(model):
        info = _external_info(tensor)
        location = info.get("location", "")
        data_file = base / location
        if not location or not data_file.is_file():
            raise ArtifactError(f"ONNX model '{path}' keeps its weights in external data file '{location}', which is "
                                f"missing; copy it next to the model (same folder) or re-export")
        end = int(info.get("offset", "0") or 0) + int(info.get("length", "0") or 0)
        if data_file.stat().st_size < end:
            raise ArtifactError(f"external data file '{data_file}' is shorter than ONNX model '{path}' expects "
                                f"(truncated?); copy it again or re-export")


def load_onnx_model(path: str | os.PathLike[str], *, load_external_data: bool = True,
                    check: bool = True) -> onnx.ModelProto:
    """Load an ONNX model, refusing a missing, truncated, non-ONNX or incomplete file with
    one ArtifactError line. A sidecar (`model.onnx.json`), when present, must match the
    file's sha256. `check` runs onnx.checker (not the slower full shape inference)."""
    path = require_file(path, "ONNX model", if_empty="re-export it")
    sidecar = artifact_meta(path, required=False)
    if sidecar is not None and sidecar.kind != ONNX_KIND:
        raise ArtifactError(f"'{path}' is described by its sidecar as a {sidecar.kind!r}, not an ONNX model")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError, RuntimeError, ... : never a traceback for the user
        raise ArtifactError(f"'{path}' is not a valid ONNX model (truncated, corrupt or another kind of file): "
                            f"{type(exc).__name__}") from exc
    if model.ir_version <= 0 or not model.graph.node or not model.graph.output or not model.opset_import:
        raise ArtifactError(f"'{path}' is not a valid ONNX model (no IR version, graph nodes, outputs or opset; "
                            f"truncated or another kind of file); re-export it")
    external = _uses_external_data(model)
    if external:
        _check_external_data(model, path)
        if load_external_data:
            try:
                onnx.load_external_data_for_model(model, str(path.parent))
            except Exception as exc:
                raise ArtifactError(f"cannot read the external data of ONNX model '{path}': {exc}") from exc
    if check:
        try:
            if external or model.ByteSize() >= EXTERNAL_DATA_THRESHOLD:
                onnx.checker.check_model(str(path))
            else:
                onnx.checker.check_model(model)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ArtifactError(f"'{path}' is not a valid ONNX model: {first}") from exc
    return model


def needs_external_data(model_bytes: int, threshold: int | None = None) -> bool:
    """Whether a model of `model_bytes` serialised bytes must keep its weights outside the
    .onnx file (protobuf cannot hold 2 GB in one message)."""
    return model_bytes >= (EXTERNAL_DATA_THRESHOLD if threshold is None else threshold)


def model_size_bytes(model: onnx.ModelProto) -> int:
    """Serialised size including weights, without serialising (ByteSize fails above 2 GB)."""
    try:
        return int(model.ByteSize())
    except Exception:  # pragma: no cover - protobuf versions that refuse to size huge messages
        return sum(len(t.raw_data) for t in model.graph.initializer)


def _remove_unreferenced_data(path: Path, keep: str | None) -> None:
    """Remove external data files of earlier saves of `path` that the model no longer names."""
    for candidate in path.parent.glob(f"{glob.escape(path.name)}*.data"):
        if candidate.name != keep and (candidate.name == path.name + ".data" or _DATA_NAME.match(candidate.name)):
            with contextlib.suppress(OSError):
                candidate.unlink()


def save_onnx_model(model: onnx.ModelProto, path: str | os.PathLike[str], *,
                    external_data: bool | None = None, meta: OnnxSidecar | None = None) -> list[Path]:
    """Write `model` atomically; returns the files written (the model, plus the data file
    when external data is used). `external_data=None` decides by size: a single file below
    2 GB, `<name>.<random>.data` above it (logged, since it is one more file to carry).
    With `meta`, the sidecar is committed with the model (sidecar.write_artifact).

    External data gets a new file name on every save, so until the model itself is replaced
    the previous model still reads its own, unchanged weights (a crash in between leaves the
    old pair intact); older data files are removed after the commit."""
    path = check_output_dir(path)
    if external_data is None:
        external_data = needs_external_data(model_size_bytes(model))
    if not external_data:
        if _uses_external_data(model):
            raise ArtifactError("model still references external data; load it with load_external_data=True first")
        _commit(path, lambda tmp: onnx.save_model(model, str(tmp)), meta)
        _remove_unreferenced_data(path, keep=None)
        return [path]
    location = f"{path.name}.{secrets.token_hex(4)}.data"
    log.warning("writing the weights of %s (%.2f GB) to external data file %s: protobuf cannot hold "
                "2 GB in one file; keep both files together", path.name, model_size_bytes(model) / 1e9, location)
    with temp_folder(path) as folder:
        # save_model rewrites the tensors it externalises; keep the caller's model intact.
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        onnx.save_model(copy, str(folder / path.name), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=location, size_threshold=1024)
        commit_file(folder / location, path.parent / location)
        _commit(path, lambda tmp: os.replace(folder / path.name, tmp),
                None if meta is None else meta.model_copy(update={"external_data": [location]}))
    _remove_unreferenced_data(path, keep=location)
    return [path, path.parent / location]


def _commit(path: Path, writer: Callable[[Path], Any], meta: OnnxSidecar | None) -> None:
    if meta is None:
        atomic_write_with(path, writer)
    else:
        write_artifact(path, writer, meta)
