"""Distributed helpers that work unchanged on a single process."""

from __future__ import annotations

import torch
import torch.distributed as dist


def world_size() -> int:
    """Number of processes in the default group, 1 when not distributed."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """Rank of this process in the default group, 0 when not distributed."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every process along dim 0, keeping gradients.

    Gradients flow back to the slice that each process contributed, so a loss
    computed on the gathered tensor trains every rank correctly. Every rank
    must pass a tensor of the same shape.

    Args:
        x: local tensor of shape ``(B, ...)``.

    Returns:
        Tensor of shape ``(world_size * B, ...)``; ``x`` itself on one process.
    """
    if world_size() == 1:
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x), dim=0)
