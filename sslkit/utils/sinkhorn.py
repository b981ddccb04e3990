"""Sinkhorn-Knopp equipartitioned soft assignments (SwAV codes)."""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

from sslkit.utils.distributed import world_size


def _logsumexp(x: torch.Tensor, dim: int | None, across_ranks: bool) -> torch.Tensor:
    """``logsumexp`` over ``dim`` (all of ``x`` when ``None``), also over every process if asked."""
    if not across_ranks or world_size() == 1:
        return torch.logsumexp(x, dim=dim, keepdim=True) if dim is not None else torch.logsumexp(x.flatten(), 0)
    m = x.amax(dim=dim, keepdim=True) if dim is not None else x.max()
    dist.all_reduce(m, op=dist.ReduceOp.MAX)
    s = torch.exp(x - m).sum(dim=dim, keepdim=True) if dim is not None else torch.exp(x - m).sum()
    dist.all_reduce(s)
    return m + torch.log(s)


@torch.no_grad()
def sinkhorn_knopp(scores: torch.Tensor, epsilon: float = 0.05, iterations: int = 3,
                   distributed: bool = True) -> torch.Tensor:
    """Soft codes that assign a batch equally to prototypes (Caron et al., 2020,
    "Unsupervised Learning of Visual Features by Contrasting Cluster
    Assignments", arXiv:2006.09882, Algorithm 1; Cuturi, 2013).

    ``Q = exp(scores / epsilon)`` is alternately rescaled so every prototype
    receives ``B / K`` of the mass and every sample a mass of 1, ``iterations``
    times; the last step normalises the samples, so each returned row sums to
    exactly 1 and the prototype totals approach ``B / K``. The rescaling runs
    in the log domain, so large ``scores / epsilon`` cannot underflow to an
    all-zero prototype (a division by zero in the plain version). When running
    distributed, the sums over samples are all-reduced so the equipartition
    holds over the global batch ``B``: every process returns the rows of its
    own samples of the single-process result.

    Args:
        scores: prototype scores ``(N, K)`` of the local samples (no gradient flows).
        epsilon: entropic regularisation, > 0 (0.05 in the paper).
        iterations: Sinkhorn iterations, >= 1 (3 in the paper).
        distributed: normalise over the global batch under DDP.

    Returns:
        Codes ``(N, K)`` in float32, each row a distribution over prototypes.
    """
    if epsilon <= 0 or iterations < 1:
        raise ValueError(f"need epsilon > 0 and iterations >= 1, got {epsilon} and {iterations}")
    if scores.ndim != 2:
        raise ValueError(f"scores must be (N, K), got shape {tuple(scores.shape)}")
    log_q = scores.float() / epsilon  # (N, K)
    k = log_q.shape[1]
    log_b: float | torch.Tensor = math.log(log_q.shape[0])
    if distributed and world_size() > 1:  # on the device: reading it back would make the host wait
        n = torch.full((), float(log_q.shape[0]), device=log_q.device)
        dist.all_reduce(n)  # the global batch, also when processes hold different numbers of samples
        log_b = torch.log(n)
    log_q = log_q - _logsumexp(log_q, None, distributed)  # total mass 1
    for _ in range(iterations):
        log_q = log_q - _logsumexp(log_q, 0, distributed) - math.log(k)  # each prototype: 1 / K
        log_q = log_q - _logsumexp(log_q, 1, False) - log_b  # each sample: 1 / B
    return torch.exp(log_q + log_b)
