"""On a GPU: the device pipeline (uint8 batch -> pinned copy -> batched views) never waits for the device."""

from __future__ import annotations

import pytest
import torch

from sslkit.data import SyntheticImageDataModule
from sslkit.transforms import ViewAugment

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("blur_prob", [0.0, 0.5])
def test_batched_views_make_no_host_device_sync(blur_prob):
    views = [ViewAugment(size=32, num_views=2, blur_prob=blur_prob, solarize_prob=0.2),
             ViewAugment(size=16, num_views=2, crop_scale=(0.05, 0.4))]
    dm = SyntheticImageDataModule(train_size=512, val_size=1, test_size=1, batch_size=128, views=views)
    x, _ = next(iter(dm.train_dataloader()))
    assert x.dtype == torch.uint8 and x.is_pinned()  # bytes, pinned, until the device
    device = torch.device("cuda")
    dm.augment_batch(x.to(device, non_blocking=True))  # first call: per-device constants are made once
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any synchronising CUDA call raises
    try:
        out = dm.augment_batch(x.to(device, non_blocking=True))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert [tuple(v.shape) for v in out] == [(128, 3, 32, 32)] * 2 + [(128, 3, 16, 16)] * 2
    assert all(v.device.type == "cuda" and bool(torch.isfinite(v).all()) for v in out)
