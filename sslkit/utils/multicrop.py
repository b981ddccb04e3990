"""One forward pass per resolution over multi-crop views, shared by DINO and SwAV (as solo-learn's ``multicrop_forward``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def frozen_bn_stats(module: nn.Module, enabled: bool = True) -> Iterator[None]:
    """Keep BatchNorm running statistics unchanged (momentum 0) inside the block; batch statistics still normalise."""
    bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)] if enabled else []
    saved = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(bns, saved):
            m.momentum = momentum


def multicrop_forward(module: nn.Module, views: Sequence[torch.Tensor],
                      freeze_bn_stats_from: int | None = None) -> list[tuple[int, torch.Tensor]]:
    """``module`` over every view, one pass per run of consecutive views of the same shape.

    Multi-crop batches put the global crops first and the (smaller) local crops
    after, so this is one pass per resolution: same-size crops share batch
    statistics and the accelerator sees large batches.

    Args:
        module: the network (e.g. a backbone).
        views: ``(B, C, H, W)`` views, global crops first.
        freeze_bn_stats_from: passes over views from this index on do not update
            BatchNorm running statistics (SwAV: local crops have other statistics
            than the evaluation images); ``None``: every pass updates them.

    Returns:
        ``[(number of views in the run, module output for their concatenation), ...]`` in view order.
    """
    out, start = [], 0
    while start < len(views):
        end = start + 1
        while end < len(views) and views[end].shape == views[start].shape:
            end += 1
        frozen = freeze_bn_stats_from is not None and start >= freeze_bn_stats_from
        with frozen_bn_stats(module, enabled=frozen):
            out.append((end - start, module(torch.cat(list(views[start:end])))))
        start = end
    return out
