"""Shifted digits: each shift does what it says, deterministically."""

import pytest
import torch

from sslkit.data import ShiftedDigitsDataModule, apply_shift
from sslkit.data.shifts import SHIFTS


def test_shifts_on_tiny_images():
    x = torch.zeros(2, 1, 8, 8)
    x[:, :, 3:5, 3:5] = 1.0
    assert torch.equal(apply_shift(x, "inverted"), 1 - x)
    assert torch.equal(apply_shift(x, "none"), x)
    noisy = apply_shift(x, "noisy", seed=1, noise_std=0.3)
    assert torch.equal(noisy, apply_shift(x, "noisy", seed=1, noise_std=0.3))  # seeded
    assert not torch.equal(noisy, apply_shift(x, "noisy", seed=2, noise_std=0.3))
    blurred = apply_shift(x, "blurred", blur_sigma=1.0)
    assert blurred.max() < 1.0 and blurred[0, 0, 0, 0] >= 0 and blurred.sum().item() == pytest.approx(x.sum().item(), rel=0.05)
    rot = apply_shift(x, "rotated", seed=0, rotation=90.0)
    assert not torch.allclose(rot, x) and rot.shape == x.shape
    low = apply_shift(x, "lowres", low_res=2)
    assert low.shape == x.shape and low.std() < x.std()
    for s in SHIFTS:
        y = apply_shift(x, s)
        assert y.min() >= 0 and y.max() <= 1
    with pytest.raises(ValueError):
        apply_shift(x, "sepia")


def test_shifted_digits_keep_split_and_labels(digits):
    inv = ShiftedDigitsDataModule(shift="inverted", load_size=16)
    a, b = digits.splits()["test"], inv.splits()["test"]
    assert (a[1] == b[1]).all()
    assert torch.allclose(b[0].tensors[0], 1 - a[0].tensors[0])
    assert inv.num_classes == 10
