"""Atomic writes, sidecar metadata and hashes: the contract every artifact follows.

Every artifact (checkpoint, ONNX model, plan, report) is written to a temporary file in the
same folder and moved into place with os.replace, so a crash or a failed check never leaves
a half-written file under the final name. Beside it sits a sidecar, `<artifact>.json`
(`best.safetensors.json`, `model.onnx.json`, `r50_fp16.plan.json`), that says what the
artifact is and where it came from. Readers check the sidecar first and refuse a mismatch.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from resnet_deploy import __version__
from resnet_deploy.errors import ArtifactError, InvalidInputError

SIDECAR_SUFFIX = ".json"


def sidecar_path(artifact: str | os.PathLike[str]) -> Path:
    """`model.onnx` -> `model.onnx.json`: appended, so `x.onnx` and `x.plan` never collide."""
    path = Path(artifact)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def check_output_dir(path: str | os.PathLike[str]) -> Path:
    """Refuse an output path whose folder does not exist (one clear line, before any work)."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidInputError(f"output folder '{parent}' does not exist; create it or choose another --output")
    return path


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `final`; move it over `final` only if the block succeeds."""
    final = check_output_dir(final)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_directory(final: str | os.PathLike[str], *, replace: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside `final`; when the block succeeds it becomes
    `final` by one rename, so readers (a Triton server polling a model repository) see the
    old folder or the complete new one, never a half-written one. An existing `final` is
    refused unless `replace`; then it is renamed aside first and removed after the swap.
    On failure the temporary folder is removed and `final` is untouched."""
    import shutil

    final = check_output_dir(final)
    if final.exists() and not replace:
        raise InvalidInputError(f"'{final}' already exists; remove it or allow replacing it")
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
            os.rename(final, aside / final.name)
            try:
                os.rename(tmp, final)
            except OSError:
                os.rename(aside / final.name, final)  # put the old folder back
                os.rmdir(aside)
                raise
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.rename(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_bytes(final: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
    return Path(final)


def atomic_write_text(final: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(final, text.encode("utf-8"))


def atomic_write_with(final: str | os.PathLike[str], writer: Callable[[Path], Any]) -> Path:
    """Let `writer(tmp_path)` produce the file (e.g. onnx.save, safetensors.save_file)."""
    with atomic_path(final) as tmp:
        writer(tmp)
    return Path(final)


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape an artifact; absent ones are left out."""
    from importlib import metadata

    versions = {"python": platform.python_version(), "resnet-deploy": __version__}
    for dist in ("torch", "onnx", "onnxruntime", "onnxruntime-gpu", "onnxslim", "tensorrt", "openvino", "numpy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return versions


def new_sidecar(kind: str, artifact: str | os.PathLike[str] | None = None, **fields: Any) -> dict[str, Any]:
    """The fields every sidecar has; callers add architecture, input_spec, precision, ...

    `kind` is one of: checkpoint, training-state, onnx, plan, calibration-cache, bench, report.
    """
    meta: dict[str, Any] = {
        "kind": kind,
        "toolkit_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "library_versions": library_versions(),
    }
    if artifact is not None and Path(artifact).exists():
        meta["sha256"] = sha256_file(artifact)
    meta.update(fields)
    return meta


def write_sidecar(artifact: str | os.PathLike[str], meta: dict[str, Any]) -> Path:
    """Write `<artifact>.json` atomically; fills in the artifact's sha256 when it exists."""
    meta = dict(meta)
    if "sha256" not in meta and Path(artifact).exists():
        meta["sha256"] = sha256_file(artifact)
    return atomic_write_text(sidecar_path(artifact), json.dumps(meta, indent=2, sort_keys=False, default=str) + "\n")


def read_sidecar(artifact: str | os.PathLike[str], *, required: bool = True, kind: str | None = None) -> dict[str, Any] | None:
    """Read and check `<artifact>.json`. A missing (when required), unreadable or wrong-kind
    sidecar is an ArtifactError naming the file."""
    path = sidecar_path(artifact)
    if not path.exists():
        if required:
            raise ArtifactError(f"'{artifact}' has no sidecar '{path.name}' beside it; it was not written by resnet-deploy or was moved without it")
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"sidecar '{path}' is not valid JSON ({exc}); rebuild the artifact") from exc
    if not isinstance(meta, dict):
        raise ArtifactError(f"sidecar '{path}' is not a JSON object; rebuild the artifact")
    if kind is not None and meta.get("kind") != kind:
        raise ArtifactError(f"'{artifact}' is a {meta.get('kind', 'unknown')!r} artifact, expected {kind!r}")
    return meta


def verify_sha256(artifact: str | os.PathLike[str], meta: dict[str, Any]) -> None:
    """Refuse an artifact whose bytes no longer match its sidecar (truncated, edited, swapped)."""
    expected = meta.get("sha256")
    if expected and sha256_file(artifact) != expected:
        raise ArtifactError(f"'{artifact}' does not match the sha256 in its sidecar: the file is truncated, corrupt or was replaced")


def require_file(path: str | os.PathLike[str], what: str, *, if_empty: str | None = None) -> Path:
    """A clear error for a missing input file, before any library trips over it; with
    `if_empty` (what to do about it), an empty file is refused too."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{what} '{path}' does not exist or is not a file")
    if if_empty is not None and path.stat().st_size == 0:
        raise ArtifactError(f"{what} '{path}' is empty; {if_empty}")
    return path
