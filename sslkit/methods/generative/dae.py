"""Denoising autoencoder."""

from __future__ import annotations

from typing import Literal

import torch

from sslkit.methods.generative.autoencoder import Autoencoder


class DenoisingAutoencoder(Autoencoder):
    """Denoising autoencoder (Vincent et al., 2008, "Extracting and Composing Robust Features with
    Denoising Autoencoders", ICML): the encoder sees a corrupted image, the
    decoder must reconstruct the clean one (same decoders and losses as
    :class:`Autoencoder`).

    Corruptions (drawn afresh every step, in the normalised space):

    * ``gaussian``: additive isotropic noise ``x + noise_std * N(0, I)``;
    * ``mask``: the paper's masking noise, a random ``mask_ratio`` of the pixel
      positions (all channels of a position together) set to ``mask_value``
      (e.g. the normalised value of a black pixel, ``-mean / std``).

    Args:
        noise: ``"gaussian"`` or ``"mask"``.
        noise_std: standard deviation of the Gaussian noise.
        mask_ratio: share of positions masked.
        mask_value: value written at masked positions.
        **kwargs: see :class:`Autoencoder`.
    """

    def __init__(self, noise: Literal["gaussian", "mask"] = "gaussian", noise_std: float = 0.5,
                 mask_ratio: float = 0.3, mask_value: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        if noise not in ("gaussian", "mask"):
            raise ValueError(f"noise must be 'gaussian' or 'mask', got {noise!r}")
        if noise_std < 0 or not 0 <= mask_ratio < 1:
            raise ValueError(f"noise_std must be >= 0 and mask_ratio in [0, 1), got {noise_std}, {mask_ratio}")
        self.noise, self.noise_std, self.mask_ratio, self.mask_value = noise, noise_std, mask_ratio, mask_value

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        if self.noise == "gaussian":
            return x + self.noise_std * torch.randn_like(x)
        keep = torch.rand(x.shape[0], 1, *x.shape[2:], device=x.device) >= self.mask_ratio
        return torch.where(keep, x, torch.full_like(x, self.mask_value))

    def preview_images(self, x: torch.Tensor) -> torch.Tensor:
        """Corrupted inputs, then their reconstructions (two rows of ``len(x)``)."""
        noisy = self.corrupt(x)
        return torch.cat([noisy, self.to_images(self.decoder(self.backbone(noisy)))])
