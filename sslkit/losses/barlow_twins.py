"""Barlow Twins: redundancy reduction on the cross-correlation matrix."""

from __future__ import annotations

import torch
from torch import nn

from sslkit.utils.distributed import gather_pair


class BarlowTwinsLoss(nn.Module):
    """Barlow Twins loss (Zbontar et al., 2021, "Barlow Twins: Self-Supervised
    Learning via Redundancy Reduction", arXiv:2103.03230).

    Each embedding dimension is standardised over the batch (mean 0, variance
    1, as a non-affine BatchNorm does), the ``(D, D)`` cross-correlation ``C``
    of the two views is formed, and ``sum_i (1 - C_ii)^2 + lambda *
    sum_{i != j} C_ij^2`` pushes ``C`` towards the identity.

    Under DDP the embeddings are gathered from every process with gradients,
    so the batch statistics and ``C`` are those of the global batch and every
    process computes the single-process loss of the global batch.

    Args:
        lambda_offdiag: weight of the off-diagonal (redundancy) term, >= 0
            (``5.1e-3`` in the paper).
        eps: added to the variance before the square root, > 0.
        scale_loss: factor on the whole loss, > 0 (solo-learn's CIFAR recipe uses 0.1).
        gather_distributed: use the global batch when running distributed.
    """

    def __init__(self, lambda_offdiag: float = 5.1e-3, eps: float = 1e-5, scale_loss: float = 1.0,
                 gather_distributed: bool = True) -> None:
        super().__init__()
        if lambda_offdiag < 0:
            raise ValueError(f"lambda_offdiag must be >= 0, got {lambda_offdiag}")
        if eps <= 0 or scale_loss <= 0:
            raise ValueError(f"eps and scale_loss must be > 0, got {eps}, {scale_loss}")
        self.lambda_offdiag = lambda_offdiag
        self.scale_loss = scale_loss
        self.eps = eps
        self.gather_distributed = gather_distributed

    def cross_correlation(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        """The ``(D, D)`` cross-correlation of the batch-standardised embeddings (global batch under DDP)."""
        if z_a.shape != z_b.shape or z_a.ndim != 2:
            raise ValueError(f"expected two (N, D) tensors of one shape, got {tuple(z_a.shape)} and {tuple(z_b.shape)}")
        if self.gather_distributed:
            z_a, z_b, _ = gather_pair(z_a, z_b)
        n = z_a.shape[0]
        if n < 2:
            raise ValueError("Barlow Twins needs a (global) batch of at least 2 samples")
        z_a, z_b = z_a.float(), z_b.float()
        z_a = (z_a - z_a.mean(0)) / torch.sqrt(z_a.var(0, unbiased=False) + self.eps)
        z_b = (z_b - z_b.mean(0)) / torch.sqrt(z_b.var(0, unbiased=False) + self.eps)
        return z_a.T @ z_b / n

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            z_a: embeddings of the first views, ``(N, D)``.
            z_b: embeddings of the second views, ``(N, D)``.

        Returns:
            Scalar loss, 0 when the cross-correlation is the identity.
        """
        c = self.cross_correlation(z_a, z_b)
        on_diag = (1 - torch.diagonal(c)).pow(2).sum()
        off_diag = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
        return self.scale_loss * (on_diag + self.lambda_offdiag * off_diag)
