"""Colorization as multinomial classification of quantised ab colours, with class rebalancing."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ColorizationLoss(nn.Module):
    """Zhang et al.'s colour classification loss (Zhang, Isola and Efros, 2016,
    "Colorful Image Colorization", arXiv:1603.08511, Eq. 2).

    Each pixel's ground-truth ab is soft-encoded over the ``Q`` bin centres: its
    ``neighbours`` nearest bins get weights ``exp(-d^2 / (2 sigma^2))``,
    normalised to sum to 1, the other bins 0. The loss is the cross-entropy of
    the predicted distribution ``softmax(logits)`` against that soft target,
    each pixel weighted by ``weights[q*]`` (``q*`` its most likely bin, the
    class rebalancing of :func:`rebalancing_weights`; all 1 without weights),
    averaged over pixels (the paper sums; the mean keeps the lr independent of
    the resolution).

    Args:
        bin_centers: ``(Q, 2)`` ab centres of the bins (e.g. :func:`sslkit.utils.color.ab_bins`).
        neighbours: bins of the soft encoding (5 in the paper), in ``[1, Q]``.
        sigma: Gaussian width of the soft encoding in ab units (5 in the paper), > 0.
    """

    def __init__(self, bin_centers: torch.Tensor, neighbours: int = 5, sigma: float = 5.0) -> None:
        super().__init__()
        if bin_centers.ndim != 2 or bin_centers.shape[1] != 2:
            raise ValueError(f"bin_centers must have shape (Q, 2), got {tuple(bin_centers.shape)}")
        if not 1 <= neighbours <= len(bin_centers):
            raise ValueError(f"neighbours must be in [1, {len(bin_centers)}], got {neighbours}")
        if sigma <= 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        self.register_buffer("bin_centers", bin_centers.float().clone(), persistent=False)
        self.neighbours, self.sigma = neighbours, sigma

    def encode(self, ab: torch.Tensor) -> torch.Tensor:
        """Soft encoding ``(B, Q, H, W)`` of ab ``(B, 2, H, W)``."""
        b, _, h, w = ab.shape
        d2 = torch.cdist(ab.permute(0, 2, 3, 1).reshape(-1, 2).float(), self.bin_centers) ** 2  # (BHW, Q)
        near, idx = d2.topk(self.neighbours, dim=1, largest=False)
        z = torch.zeros_like(d2).scatter_(1, idx, torch.softmax(-near / (2 * self.sigma**2), dim=1))
        return z.view(b, h, w, -1).permute(0, 3, 1, 2)

    def forward(self, logits: torch.Tensor, ab: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Args: logits ``(B, Q, H, W)``; ab ``(B, 2, H, W)`` targets at the same resolution; weights ``(Q,)`` or None."""
        if logits.shape[1] != len(self.bin_centers) or logits.shape[-2:] != ab.shape[-2:]:
            raise ValueError(f"logits {tuple(logits.shape)} must be (B, {len(self.bin_centers)}, H, W) "
                             f"with the H, W of ab {tuple(ab.shape)}")
        z = self.encode(ab)
        ce = -(z * F.log_softmax(logits.float(), dim=1)).sum(dim=1)  # (B, H, W)
        if weights is not None:
            ce = ce * weights[z.argmax(dim=1)]
        return ce.mean()


def rebalancing_weights(prior: torch.Tensor, bin_centers: torch.Tensor, mix: float = 0.5,
                        sigma: float = 5.0) -> torch.Tensor:
    """Class-rebalancing weights of Zhang et al. (2016, Eq. 4): ``w ~ ((1 - mix) p~ + mix / Q)^-1``, ``E_p~[w] = 1``.

    ``p~`` is the empirical bin distribution ``prior`` smoothed with a Gaussian
    of ``sigma`` ab units over the bin centres; rare (saturated) colours get
    larger weights. ``mix = 1`` gives uniform weights (no rebalancing).

    Args:
        prior: ``(Q,)`` non-negative bin frequencies (normalised here).
        bin_centers: ``(Q, 2)`` ab centres.
        mix: weight of the uniform distribution, in ``[0, 1]`` (0.5 in the paper).
        sigma: smoothing width in ab units, > 0 (5 in the paper).
    """
    if not 0.0 <= mix <= 1.0 or sigma <= 0:
        raise ValueError(f"mix must be in [0, 1] and sigma > 0, got {mix}, {sigma}")
    kernel = torch.exp(-torch.cdist(bin_centers, bin_centers) ** 2 / (2 * sigma**2))
    smooth = kernel @ (prior / prior.sum())
    smooth = smooth / smooth.sum()
    w = 1.0 / ((1 - mix) * smooth + mix / len(prior))
    return w / (smooth * w).sum()
