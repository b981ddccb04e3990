"""Domain-alignment losses: gradient reversal (DANN), Deep CORAL and multi-kernel MMD."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad, None


def grad_reverse(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Identity in the forward pass; multiplies the gradient by ``-scale`` in the backward pass.

    The gradient reversal layer of DANN (Ganin & Lempitsky, 2015, "Unsupervised
    Domain Adaptation by Backpropagation", arXiv:1409.7495).
    """
    return _ReverseGrad.apply(x, float(scale))


class GradientReversal(nn.Module):
    """Module form of :func:`grad_reverse` (Ganin & Lempitsky, 2015, arXiv:1409.7495).

    Args:
        scale: the factor ``lambda >= 0`` of the reversed gradient; may be changed during
            training (DANN ramps it from 0 to 1).
    """

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        if scale < 0:
            raise ValueError(f"scale must be >= 0, got {scale}")
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.scale)


def _check_pair(source: torch.Tensor, target: torch.Tensor, min_rows: int) -> None:
    if source.ndim != 2 or target.ndim != 2 or source.shape[1] != target.shape[1]:
        raise ValueError(f"expected (N, D) and (M, D) features, got {tuple(source.shape)} and {tuple(target.shape)}")
    if min(source.shape[0], target.shape[0]) < min_rows:
        raise ValueError(f"need at least {min_rows} samples per domain, got {source.shape[0]} and {target.shape[0]}")


class CORALLoss(nn.Module):
    """Deep CORAL (Sun & Saenko, 2016, "Deep CORAL: Correlation Alignment for
    Deep Domain Adaptation", arXiv:1607.01719).

    ``||C_s - C_t||_F^2 / (4 d^2)`` with ``C`` the unbiased feature covariance
    (``(X - mean)^T (X - mean) / (n - 1)``) of each domain.
    """

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Args: source ``(N, D)``, target ``(M, D)`` features. Returns the scalar loss."""
        _check_pair(source, target, 2)
        d = source.shape[1]
        return (_cov(source.float()) - _cov(target.float())).pow(2).sum() / (4 * d * d)


def _cov(x: torch.Tensor) -> torch.Tensor:
    xc = x - x.mean(dim=0, keepdim=True)
    return xc.T @ xc / (x.shape[0] - 1)


class MMDLoss(nn.Module):
    """Maximum mean discrepancy with a sum of Gaussian kernels (Gretton et al.,
    2012, "A Kernel Two-Sample Test", JMLR; multi-kernel as in DAN, Long et al.,
    2015, "Learning Transferable Features with Deep Adaptation Networks", arXiv:1502.02791).

    ``k(a, b) = sum_s exp(-||a - b||^2 / (2 s^2 * base))``, the biased estimate
    ``mean K_ss + mean K_tt - 2 mean K_st``.

    Args:
        bandwidths: the kernel widths ``s``, multiplied by ``base``.
        base: ``"median"`` scales the squared bandwidths by the median pairwise squared
            distance of the pooled batch (detached); ``None`` or a float uses that constant (1.0).
    """

    def __init__(self, bandwidths: Sequence[float] = (0.5, 1.0, 2.0, 4.0, 8.0), base: str | float | None = "median") -> None:
        super().__init__()
        if not bandwidths or min(bandwidths) <= 0:
            raise ValueError(f"bandwidths must be positive, got {bandwidths}")
        if isinstance(base, str) and base != "median":
            raise ValueError(f"base must be 'median', a positive float or None, got {base!r}")
        if isinstance(base, (int, float)) and base <= 0:
            raise ValueError(f"base must be positive, got {base}")
        self.bandwidths = tuple(float(b) for b in bandwidths)
        self.base = base

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Args: source ``(N, D)``, target ``(M, D)`` features. Returns the scalar (biased) MMD^2."""
        _check_pair(source, target, 1)
        n = source.shape[0]
        z = torch.cat([source, target]).float()
        d2 = torch.cdist(z, z).pow(2)
        if self.base == "median":
            off = d2[~torch.eye(len(z), dtype=torch.bool, device=z.device)]
            scale = off.detach().median().clamp_min(1e-8) if off.numel() else torch.tensor(1.0, device=z.device)
        else:
            scale = float(self.base or 1.0)
        k = sum(torch.exp(-d2 / (2 * s * s * scale)) for s in self.bandwidths)
        return k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean()
