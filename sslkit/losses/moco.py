"""MoCo losses: InfoNCE against a queue of negatives (v2) and the in-batch symmetric loss (v3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sslkit.utils.distributed import gather_rows


class MoCoV2Loss(nn.Module):
    """InfoNCE with a queue of negatives (He et al., 2020, "Momentum Contrast for
    Unsupervised Visual Representation Learning", arXiv:1911.05722; Chen et al.,
    2020, "Improved Baselines with Momentum Contrastive Learning", arXiv:2003.04297).

    Each query ``q_i`` is classified among ``1 + K`` candidates: its key ``k_i``
    (the positive) and the ``K`` queued keys (negatives), with logits
    ``cos(q, .) / temperature``. Queries, keys and queue are L2-normalised here.

    Args:
        temperature: softmax temperature, > 0 (0.2 in MoCo v2).
    """

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            q: queries ``(N, D)`` (online encoder, with gradients).
            k: keys ``(N, D)`` (momentum encoder); treated as constants.
            queue: negatives ``(K, D)``; treated as constants.

        Returns:
            Scalar mean cross-entropy over the ``N`` queries.
        """
        if q.ndim != 2 or q.shape != k.shape or queue.ndim != 2 or queue.shape[1] != q.shape[1]:
            raise ValueError(f"expected q, k of shape (N, D) and queue (K, D); got {tuple(q.shape)}, "
                             f"{tuple(k.shape)}, {tuple(queue.shape)}")
        q = F.normalize(q.float(), dim=1)
        k = F.normalize(k.detach().float(), dim=1)
        queue = F.normalize(queue.detach().float(), dim=1)
        pos = (q * k).sum(dim=1, keepdim=True)  # (N, 1)
        neg = q @ queue.T  # (N, K)
        logits = torch.cat([pos, neg], dim=1) / self.temperature
        return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long, device=q.device))


class MoCoV3Loss(nn.Module):
    """MoCo v3's contrastive loss (Chen, Xie and He, 2021, "An Empirical Study of
    Training Self-Supervised Vision Transformers", arXiv:2104.02057).

    Each query ``q_i`` is classified among the keys of the whole (global) batch,
    its positive being ``k_i``; the cross-entropy is multiplied by
    ``2 * temperature`` as in the paper's pseudo-code. Methods sum the loss over
    both view orders: ``loss(q1, k2) + loss(q2, k1)``. Under DDP the keys are
    gathered from every process.

    Args:
        temperature: softmax temperature, > 0 (0.2 for ViT, 1.0 for ResNet-50 in the paper).
        gather_distributed: use the keys of every process as negatives when distributed.
    """

    def __init__(self, temperature: float = 0.2, gather_distributed: bool = True) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature
        self.gather_distributed = gather_distributed

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            q: queries ``(N, D)`` (online encoder with predictor).
            k: keys ``(N, D)`` (momentum encoder); treated as constants.

        Returns:
            Scalar ``2 * temperature * cross_entropy``.
        """
        if q.ndim != 2 or q.shape != k.shape:
            raise ValueError(f"expected q and k of one shape (N, D), got {tuple(q.shape)} and {tuple(k.shape)}")
        q = F.normalize(q.float(), dim=1)
        k = F.normalize(k.detach().float(), dim=1)
        offset = 0
        if self.gather_distributed:
            k, offset = gather_rows(k)
        logits = q @ k.T / self.temperature
        labels = torch.arange(q.shape[0], device=q.device) + offset
        return 2 * self.temperature * F.cross_entropy(logits, labels)
