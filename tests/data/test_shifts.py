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


def test_a_list_of_shifts_is_the_union_of_those_domains():
    """shift: [none, blurred] holds each split of the clean and the blurred DataModule, labels repeated."""
    union = ShiftedDigitsDataModule(shift=["none", "blurred"], load_size=16)
    parts = [ShiftedDigitsDataModule(shift=s, load_size=16) for s in ("none", "blurred")]
    assert union.shift == "none+blurred"
    for split in ("train", "test"):
        (ds, labels), singles = union.splits()[split], [p.splits()[split] for p in parts]
        assert torch.equal(ds.tensors[0], torch.cat([s[0].tensors[0] for s in singles]))
        assert torch.equal(ds.tensors[1], torch.cat([s[0].tensors[1] for s in singles]))
        assert list(labels) == list(singles[0][1]) * 2
    assert len(union.labelled_dataset("train")) == 2 * len(parts[0].labelled_dataset("train"))
    for bad in ("sepia", ["none", "none"], []):
        with pytest.raises(ValueError, match="shift must be one of"):
            ShiftedDigitsDataModule(shift=bad)
