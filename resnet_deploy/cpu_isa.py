"""Which x86 instruction set the CPU's INT8 kernels use, whether their sums can saturate, and
whether the CPU computes BF16 natively.

onnxruntime (MLAS) and OpenVINO (oneDNN) multiply uint8 activations by int8 weights. With VNNI
(`VPDPBUSD`: AVX-512 VNNI, or AVX-VNNI) four products go straight into a 32-bit sum: exact.
Without it (AVX2, AVX-512 without VNNI) they use `VPMADDUBSW`, which adds each *pair* of
products into a *saturating 16-bit* sum: 255 x 127 x 2 = 64,770 does not fit in 32,767, so
large activations meeting large weights are clipped. Measured here (docs/precision.md): on an
AVX2 CPU both runtimes clip, most in the first convolution (its input has a zero point near
128) and, for signed activations, in every convolution (oneDNN adds 128 to make them unsigned).

The documented remedy (onnxruntime's quantization guide, `reduce_range`) is 7-bit weights,
|w| <= 64: 255 x 64 x 2 = 32,640 always fits. So an INT8 model records the ISA it was made
for (`int8_isa` in its metadata) and its weight range (`int8_weight_bits`), and the runners
warn once when it runs on a CPU of the other kind.

BF16: oneDNN (torch, OpenVINO) runs BF16 convolutions natively with AVX-512 BF16 (Cooper
Lake, Zen 4) or AMX (Sapphire Rapids); elsewhere it converts to FP32 and back, slower than
FP32 itself. `CpuIsa.bf16` names the best of the two the CPU has (BF16_FLAGS), or None.

`RESNET_DEPLOY_CPU_ISA` overrides detection (tests use it to play the other machine): one of
ISA_NAMES, optionally followed by `+avx512_bf16` or `+amx_bf16` (`avx2+avx512_bf16`); a
plain name has no BF16. The flags themselves come from environment.cpu_flags.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from resnet_deploy.environment import CPUINFO, cpu_flags
from resnet_deploy.errors import InvalidInputError

log = logging.getLogger(__name__)

ENV_VAR = "RESNET_DEPLOY_CPU_ISA"
ISA_NAMES = ("avx512_vnni", "avx_vnni", "avx512", "avx2", "other")
VNNI_ISAS = frozenset({"avx512_vnni", "avx_vnni"})
# The /proc/cpuinfo flags that decide the INT8 kernels (and are recorded with a figure).
RELEVANT_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "amx_int8",
                  "avx512_bf16", "amx_bf16")
# The flags that make BF16 native, best first (AMX tiles beat AVX-512 BF16 dot products).
BF16_FLAGS = ("amx_bf16", "avx512_bf16")
# Metadata keys an INT8 model carries (ONNX metadata_props and the sidecar).
ISA_KEY = "int8_isa"
WEIGHT_BITS_KEY = "int8_weight_bits"
GPU = "gpu"  # int8_isa of a TensorRT-layout model made for GPUs (8-bit weights, no CPU remedy)


@dataclass(frozen=True)
class CpuIsa:
    """The CPU's INT8-relevant instruction set.

    `name` is the best of ISA_NAMES the CPU has; `vnni` whether u8 x s8 products accumulate
    in 32 bits (exact); `flags` the relevant flags present; `source` where it came from;
    `bf16` the best of BF16_FLAGS present (None: BF16 is emulated here)."""

    name: str
    vnni: bool
    flags: tuple[str, ...]
    source: str
    bf16: str | None = None

    @property
    def label(self) -> str:
        """The name a figure is filed under: the INT8 class, plus the BF16 flag when present."""
        return f"{self.name}+{self.bf16}" if self.bf16 else self.name

    @property
    def saturates(self) -> bool:
        """True where INT8 convolutions with 8-bit weights may clip (x86 without VNNI). "other"
        (not x86, or x86 without AVX2) is treated as saturating: nothing here vouches for it."""
        return not self.vnni

    @property
    def weight_bits(self) -> int:
        """Weight range an INT8 model for this CPU gets: 8 (|w| <= 127) or 7 (|w| <= 64)."""
        return 8 if self.vnni else 7

    @property
    def kind(self) -> str:
        """The class a warning compares: "vnni" (exact with 8-bit weights) or "no-vnni"."""
        return "vnni" if self.vnni else "no-vnni"


def isa_from_flags(flags: Iterable[str], source: str = "flags") -> CpuIsa:
    """Classify a set of /proc/cpuinfo flag names."""
    present = set(flags)
    relevant = tuple(f for f in RELEVANT_FLAGS if f in present)
    if "avx512_vnni" in present and "avx512bw" in present:
        name = "avx512_vnni"
    elif "avx_vnni" in present and "avx2" in present:
        name = "avx_vnni"
    elif "avx512bw" in present:
        name = "avx512"
    elif "avx2" in present:
        name = "avx2"
    else:
        name = "other"
    bf16 = next((flag for flag in BF16_FLAGS if flag in present), None)
    return CpuIsa(name, name in VNNI_ISAS, relevant, source, bf16)


def named_isa(name: str, source: str, *, param: str = "isa") -> CpuIsa:
    """A CpuIsa for an ISA name (an override or a parameter), `name[+bf16 flag]`; refuses
    unknown names."""
    key, *extras = [part.strip() for part in name.strip().lower().split("+")]
    valid = f"valid: {', '.join(ISA_NAMES)}, each optionally +{' or +'.join(BF16_FLAGS)}"
    if key not in ISA_NAMES or len(extras) > 1 or any(extra not in BF16_FLAGS for extra in extras):
        raise InvalidInputError(f"unknown CPU instruction set {name!r} ({source}); {valid}", param=param)
    implied = {"avx512_vnni": ("avx2", "avx512f", "avx512bw", "avx512_vnni"), "avx_vnni": ("avx2", "avx_vnni"),
               "avx512": ("avx2", "avx512f", "avx512bw"), "avx2": ("avx2",), "other": ()}[key]
    bf16 = extras[0] if extras else None
    return CpuIsa(key, key in VNNI_ISAS, (*implied, *extras), source, bf16)


def detect_isa() -> CpuIsa:
    """This CPU's INT8-relevant ISA and BF16 support: RESNET_DEPLOY_CPU_ISA if set, else
    /proc/cpuinfo's flags (Linux); elsewhere "other" without BF16 (no remedy is known to be
    unnecessary there)."""
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return named_isa(override, f"{ENV_VAR}={override}", param=ENV_VAR)
    flags = cpu_flags()
    if flags is None:
        return CpuIsa("other", False, (), f"no {CPUINFO} ({platform.machine() or 'unknown machine'})")
    return isa_from_flags(flags, CPUINFO)


def bf16_message(cpu: CpuIsa | None = None) -> str | None:
    """Why a BF16 run on this CPU is not what the user asked for (no BF16 instructions: the
    runtime emulates it, slower than FP32, or falls back to FP32), or None where it is native."""
    cpu = cpu or detect_isa()
    if cpu.bf16 is not None:
        return None
    return (f"this CPU has no BF16 instructions ({' or '.join(BF16_FLAGS)}; detected {cpu.name} from {cpu.source}): "
            "BF16 runs emulated, slower than FP32, or the runtime falls back to FP32")


def warn_if_no_bf16(runtime: str, cpu: CpuIsa | None = None) -> str | None:
    """Log once per runtime and CPU that BF16 is not native here; returns the message."""
    cpu = cpu or detect_isa()
    message = bf16_message(cpu)
    if message is None:
        return None
    key = ("bf16", runtime, cpu.name)
    with _warned_lock:
        if key in _warned:
            return message
        _warned.add(key)
    log.warning("%s: %s", runtime, message)
    return message


def model_isa(metadata: Mapping[str, str]) -> tuple[str, int] | None:
    """(ISA the INT8 model was made for, its weight bits) from its metadata; None for a model
    that is not INT8. An INT8 model from before ISA recording counts as 8-bit for any CPU."""
    if metadata.get("precision") != "int8":
        return None
    isa = metadata.get(ISA_KEY) or "unrecorded"
    try:
        bits = int(metadata.get(WEIGHT_BITS_KEY) or 8)
    except ValueError:
        bits = 8
    return isa, bits


_warned: set[tuple[str, str, str]] = set()
_warned_lock = threading.Lock()


def mismatch_message(metadata: Mapping[str, str], cpu: CpuIsa) -> str | None:
    """Why this INT8 model does not suit this CPU's INT8 kernels, or None when it does."""
    made = model_isa(metadata)
    if made is None:
        return None
    isa, bits = made
    if bits > 7 and cpu.saturates:
        return (f"INT8 model made for {isa} ({bits}-bit weights) runs on a CPU without VNNI ({cpu.name}): its u8 x s8 "
                f"products add up in saturating 16-bit pairs here, so outputs can differ from the model's; "
                f"quantize it on this machine (target cpu) or for isa {cpu.name} to get 7-bit weights")
    if bits <= 7 and not cpu.saturates:
        return (f"INT8 model made for {isa} (7-bit weights against 16-bit saturation) runs on a CPU with VNNI "
                f"({cpu.name}), which sums exactly: quantize it for {cpu.name} for 8-bit weights and better accuracy")
    return None


def warn_if_foreign(metadata: Mapping[str, str], model: str, runtime: str, cpu: CpuIsa | None = None) -> str | None:
    """Log a warning, once per model, runtime and CPU, when an INT8 model was made for a CPU
    of the other kind (see mismatch_message). Returns the message (None when it suits)."""
    cpu = cpu or detect_isa()
    message = mismatch_message(metadata, cpu)
    if message is None:
        return None
    key = (model, runtime, cpu.name)
    with _warned_lock:
        if key in _warned:
            return message
        _warned.add(key)
    log.warning("%s: %s (%s)", runtime, message, model)
    return message
