"""Sidecar records are typed, but a sidecar this version has no model for (an unknown kind,
or fields an older or newer version wrote) still reads, and a rewrite keeps every field."""

from __future__ import annotations

import json
from pathlib import Path

from resnet_deploy.export.onnx_record import OnnxSidecar, SourceRecord
from resnet_deploy.sidecar import (
    AccuracyRecord,
    Sidecar,
    artifact_meta,
    read_sidecar,
    sha256_file,
    write_sidecar,
)

# As an older version wrote it: an accuracy block with "runtime" and without "passed", a
# top-level field no model names, a `previous` record of the version before.
OLD_ONNX = {
    "kind": "onnx", "toolkit_version": "0.1.0", "created": "2026-11-23T10:00:00+00:00",
    "library_versions": {"python": "3.11.7"}, "precision": "fp32", "architecture": "resnet20",
    "source": {"kind": "checkpoint", "path": "best.safetensors", "sha256": "ab" * 32},
    "batch": "dynamic", "legacy_field": {"kept": [1, 2]},
    "accuracy": {"dataset": "digits", "split": "test", "samples": 360, "top1": 97.5, "top5": 100.0,
                 "top1_agreement": 100.0, "cosine": 1.0, "drop_points": 0.0, "reference": "model.onnx",
                 "reference_sha256": None, "measured": "2026-11-23T10:05:00+00:00", "runtime": "onnxruntime-cpu"},
}


def test_an_older_onnx_sidecar_reads_typed_and_round_trips(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not really a model")
    previous = {"kind": "onnx", "sha256": "cd" * 32, "precision": "fp32", "created": "2026-11-22T09:00:00+00:00"}
    written = {**OLD_ONNX, "sha256": sha256_file(model), "previous": previous}
    Path(f"{model}.json").write_text(json.dumps(written))

    record = artifact_meta(model)
    assert record is not None and isinstance(record.previous, Sidecar) and record.previous.sha256 == "cd" * 32
    onnx = record.as_kind(OnnxSidecar)
    assert isinstance(onnx.source, SourceRecord) and onnx.source.path == "best.safetensors" and onnx.batch == "dynamic"
    assert isinstance(onnx.accuracy, AccuracyRecord) and onnx.accuracy.top1 == 97.5 and onnx.accuracy.passed is None

    write_sidecar(model, onnx)  # an annotation rewrites the record: `previous` goes, every other field stays
    again = json.loads(Path(f"{model}.json").read_text())
    assert again == {k: v for k, v in written.items() if k != "previous"}


def test_an_unknown_kind_reads_as_the_base_record(tmp_path: Path) -> None:
    artifact = tmp_path / "thing.bin"
    artifact.write_bytes(b"\x00\x01")
    data = {"kind": "hologram", "sha256": sha256_file(artifact), "colour": "red", "layers": [{"depth": 3}]}
    Path(f"{artifact}.json").write_text(json.dumps(data))
    record = read_sidecar(artifact)
    assert record is not None and record.kind == "hologram" and record.to_dict() == data
    assert artifact_meta(artifact, kind="hologram") == record
