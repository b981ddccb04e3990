"""BYOL's projection and prediction MLPs."""

from __future__ import annotations

from torch import nn

from sslkit.heads.projection import ProjectionHead


class BYOLProjectionHead(ProjectionHead):
    """BYOL's projector (Grill et al., 2020, arXiv:2006.07733): Linear-BN-ReLU-Linear.

    Args:
        in_dim: backbone feature size.
        hidden_dim: hidden width (4096 in the paper).
        out_dim: embedding size (256 in the paper).
    """

    def __init__(self, in_dim: int, hidden_dim: int = 4096, out_dim: int = 256) -> None:
        super().__init__([(in_dim, hidden_dim, nn.BatchNorm1d(hidden_dim), nn.ReLU()), (hidden_dim, out_dim, None, None)])


class BYOLPredictionHead(BYOLProjectionHead):
    """BYOL's predictor: the same Linear-BN-ReLU-Linear shape, from and to the embedding size.

    Args:
        in_dim: embedding size (256 in the paper).
        hidden_dim: hidden width (4096 in the paper).
        out_dim: output size, equal to the target embedding size.
    """

    def __init__(self, in_dim: int = 256, hidden_dim: int = 4096, out_dim: int = 256) -> None:
        super().__init__(in_dim, hidden_dim, out_dim)
