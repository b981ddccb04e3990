"""Model FLOPs (``torch.utils.flop_counter``) and accelerator peaks, for model FLOP utilisation (MFU).

MFU = (model FLOPs per image x images per second) / the device's dense peak
for the precision used. Model FLOPs count matrix multiplies and convolutions
of the forward and backward pass (what ``FlopCounterMode`` counts), not
element-wise work, so MFU compares implementations on the same footing.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# Dense (no sparsity) tensor-core peaks in TFLOP/s from the vendors' data sheets:
# (substring of torch.cuda.get_device_name, bf16/fp16 peak, tf32 peak). First match wins.
PEAK_TFLOPS: tuple[tuple[str, float, float], ...] = (
    ("B200", 2250.0, 1100.0),
    ("B100", 1750.0, 875.0),
    ("H200", 989.4, 494.7),
    ("H100 PCIe", 756.0, 378.0),
    ("H100 NVL", 835.0, 417.5),
    ("H100", 989.4, 494.7),  # SXM / HBM3
    ("H800", 989.4, 494.7),
    ("A100", 312.0, 156.0),
    ("A800", 312.0, 156.0),
    ("L40S", 362.1, 183.0),
    ("L40", 181.0, 90.5),
    ("L4", 121.0, 60.0),
    ("A10G", 70.0, 35.0),
    ("A10", 125.0, 62.5),
    ("A6000", 154.8, 77.4),
    ("RTX 4090", 165.2, 82.6),
    ("RTX 3090", 71.0, 35.6),
    ("V100", 125.0, 15.7),  # fp16 tensor cores; no bf16 or tf32 (fp32 peak given)
    ("T4", 65.0, 8.1),
)


def peak_flops(device: torch.device | str, bf16: bool) -> float | None:
    """Dense peak FLOP/s of a CUDA device for bf16 (else tf32), or ``None`` (CPU, unknown GPU)."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, half, tf32 in PEAK_TFLOPS:
        if key in name:
            return (half if bf16 else tf32) * 1e12
    return None


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of the matrix multiplies and convolutions that ``fn()`` runs (forward and any backward inside it)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())
