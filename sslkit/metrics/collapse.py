"""Representation-collapse diagnostics on a batch of embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def embedding_std(z: torch.Tensor) -> torch.Tensor:
    """Mean per-dimension standard deviation of L2-normalised embeddings.

    Chen & He (2021, "Exploring Simple Siamese Representation Learning",
    arXiv:2011.10566): about ``1/sqrt(d)`` for healthy embeddings spread over
    the sphere, ``0`` when every input maps to the same point.

    Args:
        z: embeddings ``(n, d)``, ``n >= 2``.

    Returns:
        Scalar tensor.
    """
    if z.ndim != 2 or z.shape[0] < 2:
        raise ValueError(f"embedding_std needs (n >= 2, d) embeddings, got shape {tuple(z.shape)}")
    return F.normalize(z.float(), dim=1).std(dim=0).mean()


def effective_rank(z: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """RankMe effective rank: ``exp`` of the entropy of the normalised singular values.

    Garrido et al. (2023, "RankMe: Assessing the Downstream Performance of
    Pretrained Self-Supervised Representations by Their Rank",
    arXiv:2210.02885): ``p_k = s_k / ||s||_1 + eps``, rank ``= exp(-sum p_k log p_k)``.
    It lies between 1 (all embeddings on one line) and ``min(n, d)``.

    Args:
        z: embeddings ``(n, d)``.
        eps: the smoothing constant of the paper.

    Returns:
        Scalar tensor.
    """
    if z.ndim != 2:
        raise ValueError(f"effective_rank needs (n, d) embeddings, got shape {tuple(z.shape)}")
    s = torch.linalg.svdvals(z.double())
    p = s / s.sum().clamp_min(torch.finfo(s.dtype).tiny) + eps
    return torch.exp(-(p * p.log()).sum()).to(z.dtype if z.is_floating_point() else torch.float32)
