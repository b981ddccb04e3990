"""NNCLR's projection and prediction heads."""

from __future__ import annotations

from torch import nn

from sslkit.heads.projection import ProjectionHead


class NNCLRProjectionHead(ProjectionHead):
    """NNCLR's projector (Dwibedi et al., 2021, arXiv:2104.14548): three linear
    layers, each followed by BatchNorm, with ReLU between them.

    Args:
        in_dim: backbone feature size.
        hidden_dim: hidden width (2048 in the paper).
        out_dim: embedding size (256 in the paper).
    """

    def __init__(self, in_dim: int, hidden_dim: int = 2048, out_dim: int = 256) -> None:
        super().__init__([
            (in_dim, hidden_dim, nn.BatchNorm1d(hidden_dim), nn.ReLU()),
            (hidden_dim, hidden_dim, nn.BatchNorm1d(hidden_dim), nn.ReLU()),
            (hidden_dim, out_dim, nn.BatchNorm1d(out_dim), None),
        ])


class NNCLRPredictionHead(ProjectionHead):
    """NNCLR's predictor: Linear-BN-ReLU-Linear.

    Args:
        in_dim: embedding size (256 in the paper).
        hidden_dim: hidden width (4096 in the paper).
        out_dim: output size, equal to the embedding size.
    """

    def __init__(self, in_dim: int = 256, hidden_dim: int = 4096, out_dim: int = 256) -> None:
        super().__init__([(in_dim, hidden_dim, nn.BatchNorm1d(hidden_dim), nn.ReLU()), (hidden_dim, out_dim, None, None)])
