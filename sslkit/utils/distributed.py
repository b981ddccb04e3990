"""Distributed helpers that work unchanged on a single process.

:func:`gather_rows` concatenates a tensor from every process along dim 0 and
accepts a different number of rows per process (an uneven last batch), so no
rank waits forever on a collective whose shapes differ.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def world_size() -> int:
    """Number of processes in the default group, 1 when not distributed."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """Rank of this process in the default group, 0 when not distributed."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _row_counts(x: torch.Tensor) -> list[int]:
    n = torch.tensor([x.shape[0]], device=x.device, dtype=torch.long)
    counts = [torch.empty_like(n) for _ in range(world_size())]
    dist.all_gather(counts, n)
    return [int(c) for c in counts]


class _GatherRows(torch.autograd.Function):
    """All-gather along dim 0 (rows padded to the longest process, then trimmed).

    Backward: every process computed its own loss on the gathered tensor, so
    the gradient of a process's rows is the sum over processes of their
    gradients for those rows (an all-reduce, then this process's slice).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, counts: list[int]) -> torch.Tensor:  # type: ignore[override]
        longest = max(counts)
        padded = torch.cat([x, x.new_zeros(longest - x.shape[0], *x.shape[1:])]) if x.shape[0] < longest else x
        parts = [torch.empty_like(padded) for _ in counts]
        dist.all_gather(parts, padded.contiguous())
        ctx.counts, ctx.start = counts, sum(counts[: rank()])
        return torch.cat([p[:n] for p, n in zip(parts, counts)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.start: ctx.start + ctx.counts[rank()]], None


def gather_rows(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Concatenate ``x`` from every process along dim 0, keeping gradients.

    Processes may hold different numbers of rows (the trailing dimensions must
    match). Gradients flow back to the rows each process contributed, so a loss
    computed on the gathered tensor trains every rank as on one process.

    Args:
        x: local tensor of shape ``(B_r, ...)``.

    Returns:
        ``(gathered, offset)``: the ``(sum_r B_r, ...)`` tensor in rank order and
        the index of this process's first row in it; ``(x, 0)`` on one process.
    """
    if world_size() == 1:
        return x, 0
    counts = _row_counts(x)
    return _GatherRows.apply(x, counts), sum(counts[: rank()])


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """:func:`gather_rows` without the offset: ``x`` from every process, concatenated along dim 0."""
    return gather_rows(x)[0]


def gather_pair(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """:func:`gather_rows` of two row-aligned tensors (e.g. the embeddings of two views) in one collective.

    Args:
        a: local tensor ``(B_r, ...)``.
        b: local tensor of the same shape as ``a``.

    Returns:
        ``(a_all, b_all, offset)``: both gathered in rank order, and the index of this process's first row.
    """
    pairs, offset = gather_rows(torch.stack([a, b], dim=1))
    a_all, b_all = pairs.unbind(dim=1)
    return a_all, b_all, offset
