"""CPU instruction-set detection and the INT8 model/CPU mismatch rule."""

from __future__ import annotations

import logging

import pytest

from resnet_deploy import cpu_isa, environment
from resnet_deploy.errors import InvalidInputError

ZEN3 = ["fpu", "sse", "sse2", "ssse3", "fma", "sse4_1", "sse4_2", "avx", "f16c", "avx2", "bmi2", "sha_ni", "vaes", "vpclmulqdq"]
ICELAKE = [*ZEN3, "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni"]
ZEN4 = [*ICELAKE, "avx512_bf16"]
SAPPHIRE_RAPIDS = [*ZEN4, "avx_vnni", "amx_tile", "amx_int8", "amx_bf16"]
ALDERLAKE = [*ZEN3, "avx_vnni"]
SKYLAKE_X = [*ZEN3, "avx512f", "avx512bw", "avx512vl"]


@pytest.mark.parametrize(("flags", "name", "vnni", "bits"), [
    (ZEN3, "avx2", False, 7), (ICELAKE, "avx512_vnni", True, 8), (ZEN4, "avx512_vnni", True, 8),
    (ALDERLAKE, "avx_vnni", True, 8), (SKYLAKE_X, "avx512", False, 7), (["fpu", "sse2"], "other", False, 7),
])
def test_flags_classify_into_the_int8_kernel_classes(flags: list[str], name: str, vnni: bool, bits: int) -> None:
    isa = cpu_isa.isa_from_flags(flags)
    assert (isa.name, isa.vnni, isa.weight_bits, isa.saturates) == (name, vnni, bits, not vnni)
    assert set(isa.flags) <= set(cpu_isa.RELEVANT_FLAGS) and set(isa.flags) <= set(flags)


@pytest.mark.parametrize(("flags", "bf16"), [(ZEN3, None), (ICELAKE, None), (ZEN4, "avx512_bf16"),
                                             (SAPPHIRE_RAPIDS, "amx_bf16"), (["fpu", "amx_bf16"], "amx_bf16")])
def test_bf16_support_is_the_best_native_bf16_flag(flags: list[str], bf16: str | None) -> None:
    isa = cpu_isa.isa_from_flags(flags)
    assert isa.bf16 == bf16
    assert (cpu_isa.bf16_message(isa) is None) == (bf16 is not None)
    assert isa.label == (f"{isa.name}+{bf16}" if bf16 else isa.name)


def test_override_plays_a_cpu_with_or_without_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cpu_isa.ENV_VAR, "avx2+AVX512_BF16")
    isa = cpu_isa.detect_isa()
    assert (isa.name, isa.vnni, isa.bf16) == ("avx2", False, "avx512_bf16")
    monkeypatch.setenv(cpu_isa.ENV_VAR, "avx512_vnni")
    assert cpu_isa.detect_isa().bf16 is None
    message = cpu_isa.bf16_message()
    assert message is not None and "no BF16 instructions" in message and cpu_isa.ENV_VAR in message
    for bad in ("avx2+avx512_fp16", "avx2+amx_bf16+avx512_bf16"):
        monkeypatch.setenv(cpu_isa.ENV_VAR, bad)
        with pytest.raises(InvalidInputError, match=r"optionally \+amx_bf16"):
            cpu_isa.detect_isa()


def test_environment_is_the_one_reader_of_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cpu_isa.ENV_VAR, raising=False)
    flags = environment.cpu_flags()
    info = environment.cpu_info()
    if flags is None:
        assert info.isa is None and cpu_isa.detect_isa().bf16 is None
        return
    assert info.isa == tuple(f for f in environment.ISA_FLAGS if f in flags)
    assert info.bf16 == cpu_isa.isa_from_flags(flags).bf16 and info.int8_isa == cpu_isa.detect_isa().name


def test_detection_reads_this_cpu_and_the_override_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cpu_isa.ENV_VAR, raising=False)
    here = cpu_isa.detect_isa()
    flags = environment.cpu_flags()
    if flags is not None:
        assert here == cpu_isa.isa_from_flags(flags, "/proc/cpuinfo")
    for name in cpu_isa.ISA_NAMES:
        monkeypatch.setenv(cpu_isa.ENV_VAR, name.upper())
        assert cpu_isa.detect_isa().name == name and cpu_isa.ENV_VAR in cpu_isa.detect_isa().source
    monkeypatch.setenv(cpu_isa.ENV_VAR, "avx9000")
    with pytest.raises(InvalidInputError, match=r"unknown CPU instruction set 'avx9000'.*valid: avx512_vnni") as err:
        cpu_isa.detect_isa()
    assert err.value.param == cpu_isa.ENV_VAR and "\n" not in str(err.value)


@pytest.mark.parametrize(("made_for", "bits", "cpu", "warns"), [
    ("avx512_vnni", "8", "avx2", "saturating 16-bit"), ("gpu", "8", "avx512", "saturating 16-bit"),
    (None, None, "avx2", "saturating 16-bit"),  # INT8 model from before ISA recording: 8-bit
    ("avx2", "7", "avx512_vnni", "quantize it for avx512_vnni"), ("avx2", "7", "avx_vnni", "8-bit weights"),
    ("avx512_vnni", "8", "avx_vnni", None), ("avx2", "7", "avx512", None), ("gpu", "8", "avx512_vnni", None),
    ("avx2", "7", "other", None),
])
def test_mismatch_rule(made_for: str | None, bits: str | None, cpu: str, warns: str | None) -> None:
    metadata = {"precision": "int8", **({cpu_isa.ISA_KEY: made_for} if made_for else {}),
                **({cpu_isa.WEIGHT_BITS_KEY: bits} if bits else {})}
    message = cpu_isa.mismatch_message(metadata, cpu_isa.named_isa(cpu, "test"))
    assert (message is None) if warns is None else (message is not None and warns in message)
    assert cpu_isa.mismatch_message({"precision": "fp32"}, cpu_isa.named_isa(cpu, "test")) is None


def test_warning_is_logged_once_per_model_runtime_and_cpu(caplog: pytest.LogCaptureFixture) -> None:
    metadata = {"precision": "int8", cpu_isa.ISA_KEY: "avx512_vnni", cpu_isa.WEIGHT_BITS_KEY: "8"}
    avx2 = cpu_isa.named_isa("avx2", "test")
    with caplog.at_level(logging.WARNING, logger="resnet_deploy.cpu_isa"):
        for _ in range(3):
            assert cpu_isa.warn_if_foreign(metadata, "/m/once.onnx", "onnxruntime", avx2)
        cpu_isa.warn_if_foreign(metadata, "/m/once.onnx", "OpenVINO", avx2)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and "onnxruntime: INT8 model made for avx512_vnni" in messages[0]
    assert messages[1].startswith("OpenVINO:") and "once.onnx" in messages[1]


def test_info_reports_the_int8_class_and_bf16_support(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from click.testing import CliRunner

    from resnet_deploy.cli import cli

    monkeypatch.setenv(cpu_isa.ENV_VAR, "avx2")
    result = CliRunner().invoke(cli, ["info"])
    assert result.exit_code == 0, result.output
    assert "INT8 avx2 (no VNNI: 7-bit weights); BF16 not native" in result.output
    monkeypatch.setenv(cpu_isa.ENV_VAR, "avx512_vnni+amx_bf16")
    data = json.loads(CliRunner().invoke(cli, ["info", "--json"]).output)
    assert data["cpu"]["bf16"] == "amx_bf16" and data["cpu"]["int8_isa"] == "avx512_vnni"
