"""ViewAugment: the per-sample (torchvision v2) and batched (whole-tensor) paths."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

from sslkit.transforms import ViewAugment

PATHS = ["per_sample", "batched"]
# every random step off: what remains is the deterministic part under test
OFF = dict(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip_prob=0.0, jitter_prob=0.0, grayscale_prob=0.0,
           blur_prob=0.0, solarize_prob=0.0)


def images(b: int = 6, c: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, c, size, size, generator=torch.Generator().manual_seed(seed))


def apply(aug: ViewAugment, x: torch.Tensor, path: str) -> torch.Tensor:
    """Run one path on a (B, C, H, W) batch; per-sample runs the v2 pipeline image by image."""
    if path == "batched":
        return aug.batched(x)
    t = aug.per_sample()
    return torch.stack([t(img) for img in x])


@pytest.mark.parametrize("path", PATHS)
def test_shape_dtype_range_with_every_step_on(path):
    aug = ViewAugment(size=24, blur_prob=0.5, solarize_prob=0.5, hue=0.5, saturation=0.8)
    y = apply(aug, images(size=40), path)
    assert y.shape == (6, 3, 24, 24) and y.dtype == torch.float32
    assert y.min() >= 0.0 and y.max() <= 1.0


@pytest.mark.parametrize("path", PATHS)
def test_random_parameters_differ_across_the_batch(path):
    torch.manual_seed(0)
    x = images(1).expand(8, -1, -1, -1).contiguous()  # 8 copies of one image
    y = apply(ViewAugment(size=16, jitter_prob=0.0, grayscale_prob=0.0), x, path)  # crops and flips only
    flat = y.flatten(1)
    distinct = sum(not torch.allclose(flat[i], flat[j]) for i in range(8) for j in range(i + 1, 8))
    assert distinct == 28  # every pair of crops differs


@pytest.mark.parametrize("path", PATHS)
def test_flip_only_is_an_exact_horizontal_flip(path):
    x = images()
    y = apply(ViewAugment(size=32, **{**OFF, "hflip_prob": 1.0}), x, path)
    torch.testing.assert_close(y, x.flip(-1), atol=1e-5, rtol=0)


@pytest.mark.parametrize("path", PATHS)
def test_full_crop_without_augmentation_is_the_input_resized(path):
    x = images()
    torch.testing.assert_close(apply(ViewAugment(size=32, **OFF), x, path), x, atol=1e-5, rtol=0)
    small = apply(ViewAugment(size=16, **OFF), x, path)
    # the batched path samples bilinearly at the output pixel centres, per-sample resizes with antialiasing
    ref = F.interpolate(x, size=16, mode="bilinear", align_corners=False) if path == "batched" else TF.resize(x, [16, 16], antialias=True)
    torch.testing.assert_close(small, ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("path", PATHS)
def test_grayscale_gives_equal_channels(path):
    y = apply(ViewAugment(size=32, **{**OFF, "grayscale_prob": 1.0}), images(), path)
    torch.testing.assert_close(y[:, 0], y[:, 1], atol=1e-6, rtol=0)
    torch.testing.assert_close(y[:, 1], y[:, 2], atol=1e-6, rtol=0)
    # luma of the input: 0.299 R + 0.587 G + 0.114 B (torchvision: 0.2989)
    luma = (images() * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1)
    torch.testing.assert_close(y[:, 0], luma, atol=2e-3, rtol=0)


@pytest.mark.parametrize("path", PATHS)
def test_solarize_inverts_values_above_half(path):
    x = torch.tensor([[0.0, 0.2, 0.49, 0.5], [0.7, 1.0, 0.3, 0.9]]).repeat(2, 1).expand(2, 3, 4, 4).contiguous()
    y = apply(ViewAugment(size=4, **{**OFF, "solarize_prob": 1.0}), x, path)
    expected = torch.tensor([[0.0, 0.2, 0.49, 0.5], [0.3, 0.0, 0.3, 0.1]]).repeat(2, 1).expand(2, 3, 4, 4)
    torch.testing.assert_close(y, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("path", PATHS)
def test_blur_reduces_variance(path):
    x = images()
    y = apply(ViewAugment(size=32, **{**OFF, "blur_prob": 1.0, "blur_sigma": (1.0, 2.0)}), x, path)
    ratio = (y.var(dim=(2, 3)) / x.var(dim=(2, 3)))
    assert ratio.max() < 0.5  # white noise loses most of its variance under a 3x3 Gaussian, sigma >= 1
    torch.testing.assert_close(y.mean(dim=(2, 3)), x.mean(dim=(2, 3)), atol=0.02, rtol=0)  # kernel sums to one


@pytest.mark.parametrize("path", PATHS)
def test_uint8_input(path):
    x8 = (images() * 255).round().to(torch.uint8)
    y = apply(ViewAugment(size=32, **OFF), x8, path)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, x8.float() / 255, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kwargs", [
    dict(size=0), dict(num_views=0), dict(crop_scale=(0.0, 1.0)), dict(crop_scale=(0.8, 0.5)), dict(crop_scale=(0.5, 1.2)),
    dict(crop_ratio=(2.0, 1.0)), dict(hflip_prob=1.5), dict(jitter_prob=-0.1), dict(grayscale_prob=2.0),
    dict(blur_prob=-1.0), dict(solarize_prob=1.1), dict(brightness=-0.1), dict(hue=0.6), dict(blur_sigma=(0.0, 1.0)),
])
def test_invalid_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        ViewAugment(**kwargs)


def test_batched_rejects_non_batches():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        ViewAugment().batched(torch.rand(3, 32, 32))


def test_flip_rate_matches_probability_in_both_paths():
    torch.manual_seed(0)
    x = images(1, size=8).expand(400, -1, -1, -1).contiguous()
    aug = ViewAugment(size=8, **{**OFF, "hflip_prob": 0.3})
    for path in PATHS:
        y = apply(aug, x, path)
        flipped = (y - x.flip(-1)).abs().flatten(1).amax(1) < 1e-5
        assert 0.22 < flipped.float().mean() < 0.38, path  # 0.3 +- 3.5 standard errors


def test_multi_crop_views_in_both_paths():
    """DINO/SwAV multi-crop: 2 global 32 px views then 4 local 16 px views, in that order."""
    from sslkit.data import DigitsDataModule

    crops = [ViewAugment(size=32, num_views=2, crop_scale=(0.4, 1.0)), ViewAugment(size=16, num_views=4, crop_scale=(0.05, 0.4))]
    shapes = [(8, 3, 32, 32)] * 2 + [(8, 3, 16, 16)] * 4
    worker = DigitsDataModule(load_size=32, batch_size=8, augment_on="worker", views=crops)
    views, labels = next(iter(worker.train_dataloader()))
    assert [tuple(v.shape) for v in views] == shapes and labels.shape == (8,)

    device = DigitsDataModule(load_size=32, batch_size=8, augment_on="device", views=crops)
    device.trainer = SimpleNamespace(training=True, current_epoch=0)
    x, y = next(iter(device.train_dataloader()))
    assert x.shape == (8, 3, 32, 32)
    views, labels = device.on_after_batch_transfer((x, y), 0)
    assert [tuple(v.shape) for v in views] == shapes and torch.equal(labels, y)
    # normalised views: pixel values (v * std + mean) stay within [0, 1]
    pix = torch.stack([v * device.std[0] + device.mean[0] for v in views[:2]])
    assert pix.min() >= -1e-5 and pix.max() <= 1 + 1e-5
