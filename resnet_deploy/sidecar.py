"""Sidecar records: `<artifact>.json` beside every artifact (checkpoint, ONNX model, plan,
training state), saying what it is, where it came from and the sha256 of its bytes.

Two files cannot be replaced in one step, so `write_artifact` commits them in an order that
readers understand (the git/SQLite lesson: one commit point, and a reader that knows the
protocol):

1. the new artifact is written completely to a temporary file;
2. the new sidecar replaces the old one; it carries the old sidecar under "previous";
3. the temporary artifact is flushed to disk and replaces the old artifact: this rename is
   the commit point.

A kill between 2 and 3 leaves the old artifact beside a sidecar whose "previous" entry still
describes it; `artifact_meta` returns whichever record matches the bytes on disk, so a reader
sees the complete old version or the complete new one, never a mix. A test stops the writer
after every step through `atomic.set_fault_hook` and checks exactly that.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import logging
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from resnet_deploy import __version__
from resnet_deploy.atomic import (
    SIDECAR_SUFFIX,
    PathLike,
    atomic_path,
    atomic_write_text,
    fault_point,
    refuse_protected,
    sidecar_path,
)
from resnet_deploy.errors import ArtifactError
from resnet_deploy.jsonfile import dumps_json, parse_json
from resnet_deploy.jsontypes import JsonObject

__all__ = ["SIDECAR_SUFFIX", "AccuracyRecord", "Sidecar", "artifact_meta", "library_versions", "new_sidecar", "read_sidecar",
           "relative_to_artifact", "require_file", "resolve_recorded", "sha256_file", "sidecar_path",
           "write_artifact", "write_sidecar"]

log = logging.getLogger(__name__)


def sha256_file(path: PathLike, chunk_size: int = 1 << 20) -> str:
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


S = TypeVar("S", bound="Sidecar")


class Sidecar(BaseModel):
    """The fields every sidecar has. A kind with a model of its own (OnnxSidecar, PlanSidecar,
    CheckpointSidecar) types its fields there; other kinds' fields, and fields a newer version
    wrote, are kept as extra fields (`extra="allow"`), so an old or unknown sidecar still reads
    and survives a rewrite."""

    model_config = ConfigDict(extra="allow")

    kind: str
    toolkit_version: str | None = None
    created: str | None = None
    library_versions: dict[str, str] = {}
    sha256: str | None = None
    # The record this one replaced (write_artifact), without its own `previous`: what a reader
    # needs after a write stopped before its commit point (artifact_meta).
    previous: Sidecar | None = None

    @classmethod
    def new(cls: type[S], kind: str, artifact: PathLike | None = None, **fields: Any) -> S:
        """A record with the provenance every sidecar has (toolkit and library versions, the
        time, and the sha256 of `artifact` when it exists already) plus the kind's `fields`.

        `kind` is one of: checkpoint, training-state, onnx, plan, calibration-cache, bench, report.
        """
        provenance: JsonObject = {
            "kind": kind,
            "toolkit_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "library_versions": library_versions(),
        }
        if artifact is not None and Path(artifact).exists():
            provenance["sha256"] = sha256_file(artifact)
        return cls.model_validate({**provenance, **fields})

    def to_dict(self) -> JsonObject:
        """The record as its JSON file holds it: the fields that were given (a typed field
        left at its default is not written, as before there were models) and the extra ones.
        Python mode: what JSON cannot hold as is (a Path, a numpy integer in a step's details)
        dumps_json writes as its text, as it always did, rather than failing the write."""
        return self.model_dump(exclude_unset=True)

    def as_kind(self, model: type[S]) -> S:
        """This record read as a kind's model (pydantic.ValidationError when it does not fit)."""
        return model.model_validate(self.to_dict())


class AccuracyRecord(BaseModel):
    """What `resnet-deploy accuracy --record` measured, under "accuracy" in an ONNX model's or
    a plan's sidecar (precision.accuracy writes it; ModelAccuracy's figures, rounded)."""

    model_config = ConfigDict(extra="allow")

    dataset: str
    split: str
    samples: int
    top1: float
    top5: float
    top1_agreement: float
    cosine: float
    drop_points: float
    max_drop: float | None = None
    passed: bool | None = None
    drop_ci95: list[float] = []
    verdict: str | None = None
    reference: str | None = None
    reference_sha256: str | None = None
    measured: str | None = None
    backend: str | None = None
    machine: JsonObject = {}


def new_sidecar(kind: str, artifact: PathLike | None = None, **fields: Any) -> Sidecar:
    """A record of a kind without a model of its own (training-state, report, ...); a kind
    with one is made with its model's `new` (PlanSidecar.new, ...)."""
    return Sidecar.new(kind, artifact, **fields)


def _json_text(data: JsonObject) -> str:
    """A record's file text; `previous` last, where the file had it before records were typed
    (the record itself reads first)."""
    if "previous" in data:
        data["previous"] = data.pop("previous")
    return dumps_json(data)


def write_sidecar(artifact: PathLike, meta: Sidecar) -> Path:
    """Replace `<artifact>.json` atomically, describing the artifact as it is now (its sha256
    is filled in from its bytes). For annotating an existing artifact (accuracy figures): the
    artifact itself is never touched, so this may update an input's sidecar. A new artifact and
    its sidecar are written together with `write_artifact`."""
    data = meta.to_dict()
    data.pop("previous", None)
    if Path(artifact).exists():
        data["sha256"] = sha256_file(artifact)
    with atomic_path(sidecar_path(artifact), annotation=True) as tmp:
        tmp.write_text(_json_text(data), encoding="utf-8")
    return sidecar_path(artifact)


def _current_record(final: Path) -> Sidecar | None:
    """The sidecar record that matches `final`'s bytes now (None if there is none)."""
    if not final.is_file():
        return None
    with contextlib.suppress(ArtifactError, OSError):
        return artifact_meta(final)
    return None


def write_artifact(final: PathLike, writer: Callable[[Path], Any], meta: S | Callable[[Path], S]) -> S:
    """Write an artifact and its sidecar crash-consistently (the protocol in the module
    docstring). `writer(tmp)` produces the artifact; `meta` is the sidecar, or a function of
    the written temporary that returns it (for fields read back from the file). Returns the
    sidecar as written (with sha256, and `previous` when it replaced another version)."""
    final = Path(final)
    refuse_protected(sidecar_path(final))
    with atomic_path(final) as tmp:  # flushed to disk just before its rename (commit_file)
        writer(tmp)
        given = meta(tmp) if callable(meta) else meta
        data = given.to_dict()
        data.pop("previous", None)
        data["sha256"] = sha256_file(tmp)
        fault_point("artifact-written", final)
        previous = _current_record(final)
        if previous is not None and previous.sha256 != data["sha256"]:
            data["previous"] = {k: v for k, v in previous.to_dict().items() if k != "previous"}
        record = type(given).model_validate(data)
        atomic_write_text(sidecar_path(final), _json_text(data))
        fault_point("sidecar-committed", final)
    fault_point("artifact-committed", final)
    return record


def read_sidecar(artifact: PathLike, *, required: bool = True, kind: str | None = None) -> Sidecar | None:
    """Read `<artifact>.json` as written (not checked against the artifact's bytes: see
    `artifact_meta`). A missing (when required), unreadable, invalid or wrong-kind sidecar is
    an ArtifactError naming the file. A kind's reader turns it into its model (`as_kind`)."""
    path = sidecar_path(artifact)
    if not path.exists():
        if required:
            raise ArtifactError(f"'{artifact}' has no sidecar '{path.name}' beside it; it was not written by resnet-deploy "
                                "or was moved without it")
        return None
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"cannot read sidecar '{path}': {exc.strerror or exc}") from exc
    meta = parse_json(text, Sidecar, what=f"sidecar '{path}'")
    if kind is not None and meta.kind != kind:
        raise ArtifactError(f"'{artifact}' is a {meta.kind!r} artifact, expected {kind!r}")
    return meta


def artifact_meta(artifact: PathLike, *, kind: str | None = None, required: bool = True) -> Sidecar | None:
    """The sidecar record that describes the artifact's bytes: the current one, or after an
    interrupted commit the previous one. Refuses (ArtifactError) an artifact that matches
    neither: truncated, edited or swapped."""
    meta = read_sidecar(artifact, required=required, kind=kind)
    if meta is None:
        return None
    if not meta.sha256:
        return meta
    digest = sha256_file(artifact)
    if digest == meta.sha256:
        return meta
    if meta.previous is not None and meta.previous.sha256 == digest:
        log.info("%s: an interrupted write left the previous version in place; using its metadata", artifact)
        return meta.previous
    raise ArtifactError(f"'{artifact}' does not match the sha256 in its sidecar: the file is truncated, corrupt or was "
                        "replaced without its sidecar")


def require_file(path: PathLike, what: str, *, if_empty: str | None = None) -> Path:
    """A clear error for a missing input file, before any library trips over it; with
    `if_empty` (what to do about it), an empty file is refused too."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{what} '{path}' does not exist or is not a file")
    if not os.access(path, os.R_OK):
        raise ArtifactError(f"{what} '{path}' is not readable")
    if if_empty is not None and path.stat().st_size == 0:
        raise ArtifactError(f"{what} '{path}' is empty; {if_empty}")
    return path


def relative_to_artifact(path: PathLike, artifact: PathLike) -> str:
    """How a sidecar records another file: relative to the artifact's own folder, so the
    pair can be moved together and read from any working directory."""
    return os.path.relpath(os.path.abspath(path), os.path.abspath(Path(artifact).parent))


def resolve_recorded(recorded: str, artifact: PathLike) -> Path:
    """A path a sidecar recorded, resolved against the artifact's folder (absolute paths stay)."""
    path = Path(recorded)
    return path if path.is_absolute() else Path(artifact).parent / path
