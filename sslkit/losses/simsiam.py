"""SimSiam's symmetrised negative cosine similarity with a stop-gradient."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SimSiamLoss(nn.Module):
    """Symmetrised negative cosine similarity of SimSiam (Chen & He, 2021,
    "Exploring Simple Siamese Representation Learning", arXiv:2011.10566).

    ``L = D(p_a, sg(z_b)) / 2 + D(p_b, sg(z_a)) / 2`` with
    ``D(p, z) = -mean_i cos(p_i, z_i)`` and ``sg`` the stop-gradient: the
    projections ``z`` are targets only, gradients reach the encoder through
    the predictions ``p``. The loss lies in ``[-1, 1]`` and is ``-1`` when each
    prediction points the same way as the other view's projection. It is a
    per-sample mean, so under DDP the average over processes (what DDP's
    gradient averaging optimises) equals the global-batch loss.

    Args:
        eps: small value that keeps the cosine defined for zero vectors, > 0.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        if eps <= 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.eps = eps

    def forward(self, p_a: torch.Tensor, p_b: torch.Tensor, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            p_a: predictions of the first views, ``(N, D)``.
            p_b: predictions of the second views, ``(N, D)``.
            z_a: projections of the first views (targets for ``p_b``), ``(N, D)``.
            z_b: projections of the second views (targets for ``p_a``), ``(N, D)``.

        Returns:
            Scalar loss in ``[-1, 1]``.
        """
        shapes = {tuple(t.shape) for t in (p_a, p_b, z_a, z_b)}
        if len(shapes) != 1 or p_a.ndim != 2:
            raise ValueError(f"expected four (N, D) tensors of one shape, got {sorted(shapes)}")
        d_a = F.cosine_similarity(p_a, z_b.detach(), dim=1, eps=self.eps).mean()
        d_b = F.cosine_similarity(p_b, z_a.detach(), dim=1, eps=self.eps).mean()
        return -(d_a + d_b) / 2
