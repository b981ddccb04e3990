"""MoCo v2 and v3 projection / prediction heads."""

from __future__ import annotations

from torch import nn

from sslkit.heads.projection import ProjectionHead


class MoCoV2ProjectionHead(ProjectionHead):
    """MoCo v2's MLP head (Chen et al., 2020, arXiv:2003.04297): Linear-ReLU-Linear, no BatchNorm.

    Args:
        in_dim: backbone feature size.
        hidden_dim: hidden width (2048 in the paper).
        out_dim: embedding size (128 in the paper).
    """

    def __init__(self, in_dim: int, hidden_dim: int = 2048, out_dim: int = 128) -> None:
        super().__init__([(in_dim, hidden_dim, None, nn.ReLU()), (hidden_dim, out_dim, None, None)])


def _bn_mlp(dims: list[int]) -> list[tuple]:
    """Linear-BN-ReLU blocks ending in Linear + BatchNorm without affine parameters (MoCo v3)."""
    blocks = [(dims[i], dims[i + 1], nn.BatchNorm1d(dims[i + 1]), nn.ReLU()) for i in range(len(dims) - 2)]
    return blocks + [(dims[-2], dims[-1], nn.BatchNorm1d(dims[-1], affine=False), None)]


class MoCoV3ProjectionHead(ProjectionHead):
    """MoCo v3's projector (Chen, Xie and He, 2021, arXiv:2104.02057):
    ``num_layers`` linear layers with BN (+ReLU), the last BN without affine.

    Args:
        in_dim: backbone feature size.
        hidden_dim: hidden width (4096 in the paper).
        out_dim: embedding size (256 in the paper).
        num_layers: linear layers, >= 2 (3 in the paper).
    """

    def __init__(self, in_dim: int, hidden_dim: int = 4096, out_dim: int = 256, num_layers: int = 3) -> None:
        if num_layers < 2:
            raise ValueError(f"num_layers must be >= 2, got {num_layers}")
        super().__init__(_bn_mlp([in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]))


class MoCoV3PredictionHead(ProjectionHead):
    """MoCo v3's predictor: Linear-BN-ReLU-Linear-BN(no affine).

    Args:
        in_dim: embedding size.
        hidden_dim: hidden width (4096 in the paper).
        out_dim: output size, equal to the key size.
    """

    def __init__(self, in_dim: int = 256, hidden_dim: int = 4096, out_dim: int = 256) -> None:
        super().__init__(_bn_mlp([in_dim, hidden_dim, out_dim]))
