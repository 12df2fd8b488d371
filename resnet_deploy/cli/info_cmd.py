"""`resnet-deploy info`: what this machine can run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from resnet_deploy.cli.output import echo_fields, echo_json
from resnet_deploy.cli.params import command

if TYPE_CHECKING:
    from resnet_deploy.environment import CpuInfo, RuntimeInfo


def _present(value: RuntimeInfo | str | None) -> str:
    if value is None:
        return "not installed"
    if isinstance(value, str):
        return value
    return str(value.version or value.error or "unknown")


def _isa_text(cpu: CpuInfo) -> str:
    """INT8 kernel class and BF16 support, as `info` shows them."""
    if cpu.int8_isa is None:
        return "unknown"
    int8 = f"INT8 {cpu.int8_isa} ({'VNNI, exact' if cpu.vnni else 'no VNNI: 7-bit weights'})"
    bf16 = f"BF16 native ({cpu.bf16})" if cpu.bf16 else "BF16 not native (no avx512_bf16/amx_bf16)"
    return f"{int8}; {bf16}; flags: {' '.join(cpu.isa or ()) or '-'}"


@command("info")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for programs.")
def info(as_json: bool) -> None:
    """Show Python, torch (and whether CUDA is usable), ONNX, runtimes, CPU and GPU."""
    from resnet_deploy.environment import collect_environment

    env = collect_environment()
    if as_json:
        echo_json(env.to_dict())
        return
    torch_env, ort, openvino = env.torch, env.onnxruntime, env.openvino
    lines = [
        ("resnet-deploy", env.resnet_deploy),
        ("python", f"{env.python} ({env.platform})"),
        ("cpu", f"{env.cpu.model}, {env.cpu.logical_cores} logical cores, torch threads {torch_env.threads}"),
        ("cpu isa", _isa_text(env.cpu)),
        ("torch", f"{torch_env.version} (CUDA build {torch_env.cuda_build or 'none'}, "
                  f"CUDA usable: {'yes' if torch_env.cuda_available else 'no'})"),
        ("onnx", _present(env.onnx)),
        ("onnxruntime", _present(ort) + (f" [{ort.package}] providers: {', '.join(ort.providers)}"
                                         if ort is not None and ort.providers is not None else "")),
        ("tensorrt", _present(env.tensorrt)),
        ("openvino", _present(openvino) + (f" devices: {', '.join(openvino.devices)}"
                                           if openvino is not None and openvino.devices is not None else "")),
        ("cuda-python", _present(env.cuda_python)),
    ]
    if env.gpus:
        for gpu in env.gpus:
            lines.append((f"gpu {gpu.index if gpu.index is not None else 0}",
                          f"{gpu.name} (compute capability {gpu.compute_capability or '?'}, driver {gpu.driver or '?'})"))
    else:
        lines.append(("gpu", "none visible"))
    echo_fields(lines, titles=("component", "version / state"))
