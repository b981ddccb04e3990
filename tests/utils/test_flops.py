"""Model FLOPs and peaks for MFU."""

import torch

from sslkit.utils.flops import PEAK_TFLOPS, count_flops, peak_flops


def test_count_flops_of_a_linear_layer_forward_and_backward():
    layer = torch.nn.Linear(16, 8, bias=False)
    x = torch.randn(4, 16, requires_grad=True)
    assert count_flops(lambda: layer(x)) == 2 * 4 * 16 * 8
    assert count_flops(lambda: layer(x).sum().backward()) == 3 * 2 * 4 * 16 * 8  # forward + two backward matmuls


def test_peaks_known_for_common_gpus_and_none_on_cpu():
    assert peak_flops("cpu", bf16=True) is None
    names = [k for k, _, _ in PEAK_TFLOPS]
    assert names.index("H100 PCIe") < names.index("H100") and names.index("A10G") < names.index("A10")
    assert all(bf16 >= tf32 > 0 for _, bf16, tf32 in PEAK_TFLOPS)
