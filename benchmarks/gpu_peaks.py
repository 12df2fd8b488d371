"""Dense FP16 tensor-core peaks of NVIDIA GPUs, to put a measured images/s in proportion.

TFLOP/s without structured sparsity (the data sheets print the sparse figure, twice this), at
the boost clock, FP16 inputs with FP32 accumulation where the two differ (GeForce cards run
FP16 accumulation at twice the rate). A GPU that sustains lower clocks (power or thermal
limits, the PCIe/NVL variants) reaches less. Matched on the name CUDA reports, longest key first.
"""

from __future__ import annotations

# name fragment -> (dense FP16 TFLOP/s, source)
FP16_DENSE_PEAK_TFLOPS: dict[str, tuple[float, str]] = {
    "H100 80GB HBM3": (989.4, "NVIDIA H100 Tensor Core GPU data sheet, SXM5: 1,979 TFLOPS FP16 with sparsity"),
    "H100 SXM": (989.4, "NVIDIA H100 data sheet, SXM5: 1,979 TFLOPS FP16 with sparsity"),
    "H100 PCIe": (756.0, "NVIDIA H100 data sheet, PCIe: 1,513 TFLOPS FP16 with sparsity"),
    "H100 NVL": (835.5, "NVIDIA H100 data sheet, NVL: 1,671 TFLOPS FP16 with sparsity"),
    "H200 NVL": (835.5, "NVIDIA H200 data sheet, NVL: 1,671 TFLOPS FP16 with sparsity"),
    "H200": (989.4, "NVIDIA H200 data sheet, SXM: 1,979 TFLOPS FP16 with sparsity"),
    "GH200": (989.4, "NVIDIA GH200 data sheet: 1,979 TFLOPS FP16 with sparsity"),
    "A100": (312.0, "NVIDIA A100 data sheet: 312 TFLOPS FP16 (624 with sparsity)"),
    "A30": (165.0, "NVIDIA A30 data sheet: 165 TFLOPS FP16 (330 with sparsity)"),
    "L40S": (362.05, "NVIDIA L40S data sheet: 362.05 TFLOPS FP16 (733 with sparsity)"),
    "L40": (181.05, "NVIDIA L40 data sheet: 181.05 TFLOPS FP16 (362.1 with sparsity)"),
    "L4": (121.0, "NVIDIA L4 data sheet: 242 TFLOPS FP16 with sparsity"),
    "A10": (125.0, "NVIDIA A10 data sheet: 125 TFLOPS FP16 (250 with sparsity)"),
    "T4": (65.0, "NVIDIA T4 data sheet: 65 TFLOPS mixed precision FP16/FP32"),
    "V100-SXM2": (125.0, "NVIDIA V100 data sheet, SXM2: 125 TFLOPS tensor"),
    "V100": (112.0, "NVIDIA V100 data sheet, PCIe: 112 TFLOPS tensor"),
    "RTX 4090": (165.2, "NVIDIA Ada Lovelace architecture whitepaper: FP16 tensor with FP32 accumulate, dense"),
    "RTX 3090": (71.0, "NVIDIA Ampere GA102 whitepaper: FP16 tensor with FP32 accumulate, dense"),
}


def fp16_peak(gpu_name: str) -> tuple[float, str] | None:
    """(dense FP16 TFLOP/s, source) for a GPU name as CUDA reports it, or None when unknown."""
    for key in sorted(FP16_DENSE_PEAK_TFLOPS, key=len, reverse=True):
        if key.lower() in gpu_name.lower():
            return FP16_DENSE_PEAK_TFLOPS[key]
    return None
