"""Shifted digits: the embedded digits under a controlled domain shift.

Each shift is a deterministic (seeded) function of the ``[0, 1]`` images,
applied once to every split, so a model trained on one domain can be scored on
another and domain-adaptation methods have an unlabelled target to align to.
The normalisation statistics stay those of the clean digits, as for a model
deployed on data that drifted.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from sslkit.data.digits import DigitsDataModule

Shift = Literal["none", "inverted", "rotated", "noisy", "blurred", "lowres"]
SHIFTS: tuple[str, ...] = ("none", "inverted", "rotated", "noisy", "blurred", "lowres")


def apply_shift(x: torch.Tensor, shift: str, seed: int = 0, rotation: float = 30.0, noise_std: float = 0.3,
                blur_sigma: float = 1.5, low_res: int = 6) -> torch.Tensor:
    """Apply a domain shift to images ``x`` of shape ``(N, C, H, W)`` in ``[0, 1]``.

    Args:
        x: the images.
        shift: ``none``; ``inverted`` (``1 - x``); ``rotated`` (each image by a random
            angle with ``rotation / 2 <= |angle| <= rotation`` degrees);
            ``noisy`` (additive Gaussian noise of std ``noise_std``); ``blurred``
            (Gaussian blur of std ``blur_sigma`` pixels); ``lowres`` (down to ``low_res``
            pixels and back up, bilinear).
        seed: seed of the random angles and noise.

    Returns:
        Shifted images, same shape, clamped to ``[0, 1]``.
    """
    if shift not in SHIFTS:
        raise ValueError(f"unknown shift {shift!r}; choose one of {SHIFTS}")
    g = torch.Generator().manual_seed(seed)
    n, _, h, w = x.shape
    if shift == "none":
        return x.clone()
    if shift == "inverted":
        return 1.0 - x
    if shift == "noisy":
        return (x + noise_std * torch.randn(x.shape, generator=g)).clamp(0, 1)
    if shift == "lowres":
        small = F.interpolate(x, size=low_res, mode="bilinear", align_corners=False, antialias=True)
        return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)
    if shift == "blurred":
        k = 2 * math.ceil(3 * blur_sigma) + 1
        t = torch.arange(k, dtype=x.dtype) - (k - 1) / 2
        kern = torch.exp(-(t**2) / (2 * blur_sigma**2))
        kern = kern / kern.sum()
        c = x.shape[1]
        y = F.pad(x, (k // 2,) * 4, mode="replicate")
        y = F.conv2d(y, kern.view(1, 1, 1, k).repeat(c, 1, 1, 1), groups=c)
        return F.conv2d(y, kern.view(1, 1, k, 1).repeat(c, 1, 1, 1), groups=c).clamp(0, 1)
    # rotated: |angle| in [rotation / 2, rotation], random sign
    mag = (0.5 + 0.5 * torch.rand(n, generator=g)) * rotation
    sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    a = torch.deg2rad(mag * sign)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = a.cos(), -a.sin(), a.sin(), a.cos()
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False).clamp(0, 1)


class ShiftedDigitsDataModule(DigitsDataModule):
    """:class:`~sslkit.data.DigitsDataModule` with a domain shift applied to every split.

    Same split (``split_seed``), labels and normalisation as the clean digits;
    usable for pretraining, as a downstream source (:class:`~sslkit.data.LabelledDataModule`)
    and as a domain-adaptation target.

    A list of shifts (``shift: [none, blurred]``) makes every split the union of
    those domains: each image once per shift, same labels. That is the unlabelled
    pool of "pretrain on source + target" (its name is ``none+blurred``).

    Args:
        shift: see :func:`apply_shift`, or a list of shifts (their union).
        shift_seed: seed of the random parts of the shift (split ``i`` uses ``shift_seed + i``).
        rotation: maximum rotation in degrees (``rotated``).
        noise_std: noise standard deviation (``noisy``).
        blur_sigma: blur standard deviation in pixels (``blurred``).
        low_res: intermediate resolution in pixels (``lowres``).
        **kwargs: see :class:`~sslkit.data.DigitsDataModule`.
    """

    def __init__(self, shift: Shift | list[Shift] = "inverted", shift_seed: int = 0, rotation: float = 30.0, noise_std: float = 0.3,
                 blur_sigma: float = 1.5, low_res: int = 6, **kwargs) -> None:
        super().__init__(**kwargs)
        shifts = [shift] if isinstance(shift, str) else list(shift)
        bad = [s for s in shifts if s not in SHIFTS]
        if bad or not shifts or len(set(shifts)) < len(shifts):
            raise ValueError(f"shift must be one of {SHIFTS} or a list of distinct ones, got {shift!r}")
        if rotation < 0 or noise_std < 0 or blur_sigma <= 0 or low_res < 1:
            raise ValueError("rotation and noise_std must be >= 0, blur_sigma > 0, low_res >= 1")
        self.shifts, self.shift_seed = shifts, shift_seed
        self.shift = "+".join(shifts)  # the domain's name in tables
        self.shift_args = dict(rotation=rotation, noise_std=noise_std, blur_sigma=blur_sigma, low_res=low_res)

    def build_splits(self):
        out = {}
        for i, (name, (ds, labels)) in enumerate(super().build_splits().items()):
            x, y = ds.tensors
            xs = [apply_shift(x, s, self.shift_seed + i, **self.shift_args) for s in self.shifts]
            k = len(self.shifts)
            out[name] = (TensorDataset(torch.cat(xs), y.repeat(k)), np.tile(labels, k))
        return out
