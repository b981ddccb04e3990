"""NNCLR: contrastive loss with nearest neighbours from a support set as positives."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sslkit.losses.ntxent import NTXentLoss


def nearest_neighbour(z: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """For each row of ``z``, the row of ``support`` with the highest cosine similarity.

    Args:
        z: queries ``(N, D)``.
        support: candidates ``(K, D)``.

    Returns:
        ``(N, D)`` L2-normalised support rows, without gradients.
    """
    with torch.no_grad():
        support = F.normalize(support.float(), dim=1)
        idx = (F.normalize(z.float(), dim=1) @ support.T).argmax(dim=1)
        return support[idx]


class NNCLRLoss(nn.Module):
    """NNCLR loss (Dwibedi et al., 2021, "With a Little Help from My Friends:
    Nearest-Neighbor Contrastive Learning of Visual Representations",
    arXiv:2104.14548).

    The positive of view 2's prediction ``p2_i`` is the nearest neighbour of
    view 1's projection ``z1_i`` in the support set (and symmetrically); the
    pair is scored with NT-Xent (:class:`~sslkit.losses.NTXentLoss`, every other
    sample of the global batch a negative). The loss is the mean of both
    directions. The nearest neighbours are constants (no gradient).

    Args:
        temperature: softmax temperature, > 0 (0.1 in the paper).
        gather_distributed: use negatives from every process when distributed.
    """

    def __init__(self, temperature: float = 0.1, gather_distributed: bool = True) -> None:
        super().__init__()
        self.ntxent = NTXentLoss(temperature=temperature, gather_distributed=gather_distributed)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor,
                support: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            z1, z2: projections of the two views ``(N, D)`` (queries of the support set).
            p1, p2: predictions of the two views ``(N, D)``.
            support: the support set ``(K, D)``.

        Returns:
            Scalar ``(NT-Xent(NN(z1), p2) + NT-Xent(NN(z2), p1)) / 2``.
        """
        if not (z1.shape == z2.shape == p1.shape == p2.shape) or z1.ndim != 2 or support.shape[-1] != z1.shape[1]:
            raise ValueError("z1, z2, p1, p2 must share one (N, D) shape and support be (K, D)")
        nn1, nn2 = nearest_neighbour(z1, support), nearest_neighbour(z2, support)
        return 0.5 * (self.ntxent(nn1, p2.float()) + self.ntxent(nn2, p1.float()))
