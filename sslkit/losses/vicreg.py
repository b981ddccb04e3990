"""VICReg: variance-invariance-covariance regularisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sslkit.utils.distributed import gather_pair


def _off_diagonal_sq_sum(m: torch.Tensor) -> torch.Tensor:
    return m.pow(2).sum() - torch.diagonal(m).pow(2).sum()


class VICRegLoss(nn.Module):
    """VICReg loss (Bardes, Ponce & LeCun, 2022, "VICReg: Variance-Invariance-
    Covariance Regularization for Self-Supervised Learning", arXiv:2105.04906).

    ``sim_coeff * invariance + std_coeff * variance + cov_coeff * covariance``:

    * invariance: mean squared error between the two views' embeddings;
    * variance: ``mean_j relu(gamma - sqrt(Var(z_j) + eps))`` per branch,
      averaged over the two branches (a hinge on each dimension's std);
    * covariance: sum of the squared off-diagonal covariances divided by ``D``,
      summed over the two branches.

    Under DDP the variance and covariance use the global batch (embeddings are
    gathered with gradients); the invariance term is a per-sample mean, whose
    average over processes is the global one. So the mean of the per-process
    losses equals the single-process loss of the global batch.

    Args:
        sim_coeff: weight of the invariance term, >= 0 (25 in the paper).
        std_coeff: weight of the variance term, >= 0 (25 in the paper).
        cov_coeff: weight of the covariance term, >= 0 (1 in the paper).
        gamma: target standard deviation of each dimension, > 0.
        eps: added to the variance before the square root, > 0.
        gather_distributed: use the global batch for variance and covariance.
    """

    def __init__(self, sim_coeff: float = 25.0, std_coeff: float = 25.0, cov_coeff: float = 1.0, gamma: float = 1.0,
                 eps: float = 1e-4, gather_distributed: bool = True) -> None:
        super().__init__()
        if min(sim_coeff, std_coeff, cov_coeff) < 0:
            raise ValueError("sim_coeff, std_coeff and cov_coeff must be >= 0")
        if gamma <= 0 or eps <= 0:
            raise ValueError(f"gamma and eps must be > 0, got gamma={gamma}, eps={eps}")
        self.sim_coeff, self.std_coeff, self.cov_coeff = sim_coeff, std_coeff, cov_coeff
        self.gamma, self.eps = gamma, eps
        self.gather_distributed = gather_distributed

    def terms(self, z_a: torch.Tensor, z_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """The unweighted ``invariance``, ``variance`` and ``covariance`` terms."""
        if z_a.shape != z_b.shape or z_a.ndim != 2:
            raise ValueError(f"expected two (N, D) tensors of one shape, got {tuple(z_a.shape)} and {tuple(z_b.shape)}")
        z_a, z_b = z_a.float(), z_b.float()
        invariance = F.mse_loss(z_a, z_b)
        if self.gather_distributed:
            z_a, z_b, _ = gather_pair(z_a, z_b)
        n, d = z_a.shape
        if n < 2:
            raise ValueError("VICReg needs a (global) batch of at least 2 samples")
        z_a, z_b = z_a - z_a.mean(0), z_b - z_b.mean(0)
        std_a, std_b = torch.sqrt(z_a.var(0) + self.eps), torch.sqrt(z_b.var(0) + self.eps)
        variance = (F.relu(self.gamma - std_a).mean() + F.relu(self.gamma - std_b).mean()) / 2
        covariance = (_off_diagonal_sq_sum(z_a.T @ z_a / (n - 1)) + _off_diagonal_sq_sum(z_b.T @ z_b / (n - 1))) / d
        return {"invariance": invariance, "variance": variance, "covariance": covariance}

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            z_a: embeddings of the first views, ``(N, D)``.
            z_b: embeddings of the second views, ``(N, D)``.

        Returns:
            Scalar weighted loss.
        """
        t = self.terms(z_a, z_b)
        return self.sim_coeff * t["invariance"] + self.std_coeff * t["variance"] + self.cov_coeff * t["covariance"]
