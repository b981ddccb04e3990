"""SwAV: swapped prediction of Sinkhorn cluster codes across crops."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sslkit.utils.sinkhorn import sinkhorn_knopp


class SwAVLoss(nn.Module):
    """SwAV swapped-prediction loss (Caron et al., 2020, "Unsupervised Learning
    of Visual Features by Contrasting Cluster Assignments", arXiv:2006.09882).

    The codes ``q`` of each global crop come from Sinkhorn-Knopp on its
    prototype scores (no gradient; equipartition over the global batch under
    DDP). Every other crop, global or local, predicts those codes with
    ``softmax(scores / temperature)``; the loss is the cross-entropy averaged
    over the predicting crops and then over the global crops. It is a
    per-sample mean, so the average over processes equals the global-batch loss.

    Args:
        temperature: softmax temperature of the predictions, > 0 (0.1 in the paper).
        sinkhorn_epsilon: entropic regularisation of Sinkhorn-Knopp, > 0 (0.05).
        sinkhorn_iterations: Sinkhorn-Knopp iterations, >= 1 (3).
        gather_distributed: equipartition the codes over the global batch.
    """

    def __init__(self, temperature: float = 0.1, sinkhorn_epsilon: float = 0.05, sinkhorn_iterations: int = 3,
                 gather_distributed: bool = True) -> None:
        super().__init__()
        if temperature <= 0 or sinkhorn_epsilon <= 0:
            raise ValueError(f"temperature and sinkhorn_epsilon must be > 0, got {temperature}, {sinkhorn_epsilon}")
        if sinkhorn_iterations < 1:
            raise ValueError(f"sinkhorn_iterations must be >= 1, got {sinkhorn_iterations}")
        self.temperature = temperature
        self.sinkhorn_epsilon = sinkhorn_epsilon
        self.sinkhorn_iterations = sinkhorn_iterations
        self.gather_distributed = gather_distributed

    def codes(self, scores: torch.Tensor) -> torch.Tensor:
        """Sinkhorn codes ``(N, K)`` of one crop's prototype scores (no gradient)."""
        return sinkhorn_knopp(scores.detach(), self.sinkhorn_epsilon, self.sinkhorn_iterations, self.gather_distributed)

    def forward(self, global_scores: Sequence[torch.Tensor], local_scores: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        """Compute the loss.

        Args:
            global_scores: prototype scores ``(N, K)`` of each global crop (at least 2).
            local_scores: prototype scores ``(N, K)`` of each local (small) crop.

        Returns:
            Scalar loss.
        """
        crops = list(global_scores) + list(local_scores)
        if len(global_scores) < 2:
            raise ValueError(f"SwAV needs at least 2 global crops, got {len(global_scores)}")
        if len({tuple(s.shape) for s in crops}) != 1 or crops[0].ndim != 2:
            raise ValueError(f"all crops' scores must be (N, K) of one shape, got {[tuple(s.shape) for s in crops]}")
        log_p = [F.log_softmax(s.float() / self.temperature, dim=1) for s in crops]
        loss = crops[0].new_zeros((), dtype=torch.float32)
        for i, scores in enumerate(global_scores):
            q = self.codes(scores)
            others = [lp for j, lp in enumerate(log_p) if j != i]
            loss = loss + sum(-(q * lp).sum(dim=1).mean() for lp in others) / len(others)
        return loss / len(global_scores)
