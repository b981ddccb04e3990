"""Generic MLP projection head and its per-method variants."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


class ProjectionHead(nn.Sequential):
    """An MLP built from ``(in, out, norm, activation)`` blocks.

    Each block is ``Linear(in, out, bias=norm is None)`` followed by the
    optional normalisation layer and activation, so per-method heads are a
    short list of blocks.

    Args:
        blocks: sequence of ``(in_dim, out_dim, norm or None, activation or None)``.
    """

    def __init__(self, blocks: Sequence[tuple[int, int, nn.Module | None, nn.Module | None]]) -> None:
        layers: list[nn.Module] = []
        for in_dim, out_dim, norm, act in blocks:
            layers.append(nn.Linear(in_dim, out_dim, bias=norm is None))
            if norm is not None:
                layers.append(norm)
            if act is not None:
                layers.append(act)
        super().__init__(*layers)


class SimCLRProjectionHead(ProjectionHead):
    """SimCLR's projection head (Chen et al., 2020, arXiv:2002.05709):
    ``num_layers`` linear layers with BatchNorm and ReLU between them.

    Args:
        in_dim: backbone feature size.
        hidden_dim: width of the hidden layers.
        out_dim: size of the embedding the loss sees.
        num_layers: number of linear layers, >= 1 (SimCLR v1 uses 2, v2 uses 3).
    """

    def __init__(self, in_dim: int, hidden_dim: int = 2048, out_dim: int = 128, num_layers: int = 2) -> None:
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        blocks = [(dims[i], dims[i + 1], nn.BatchNorm1d(dims[i + 1]), nn.ReLU()) for i in range(num_layers - 1)]
        blocks.append((dims[-2], dims[-1], None, None))
        super().__init__(blocks)
