"""BYOL's regression loss between normalised predictions and targets."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BYOLLoss(nn.Module):
    """Normalised mean squared error (Grill et al., 2020, "Bootstrap Your Own
    Latent", arXiv:2006.07733, eq. 2).

    ``||p/|p| - z/|z|||^2 = 2 - 2 cos(p, z)``, averaged over the batch: 0 when
    prediction and target point the same way, 2 when orthogonal, 4 when
    opposite. The target is treated as a constant (stop-gradient). Without a
    predictor it is the plain squared distance between the L2-normalised
    online and target embeddings.
    """

    def forward(self, p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            p: online predictions ``(N, D)``.
            z: target projections ``(N, D)``.

        Returns:
            Scalar mean of ``2 - 2 cos(p_i, z_i)``.
        """
        if p.ndim != 2 or p.shape != z.shape:
            raise ValueError(f"expected p and z of one shape (N, D), got {tuple(p.shape)} and {tuple(z.shape)}")
        cos = F.cosine_similarity(p.float(), z.detach().float(), dim=1)
        return (2 - 2 * cos).mean()
