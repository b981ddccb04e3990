"""Heads of the classic pretext tasks: a classifier on pooled features, a dense colour predictor on feature maps."""

from __future__ import annotations

import torch
from torch import nn

from sslkit.heads.projection import ProjectionHead


class PretextClassifier(ProjectionHead):
    """Classifies pooled features into the pretext task's classes (rotations, permutations, relative positions).

    ``hidden_dim = 0``: one linear layer; otherwise ``Linear -> BatchNorm -> ReLU -> Linear``.

    Args:
        in_dim: input feature size (backbone features, or several concatenated).
        hidden_dim: width of the hidden layer, 0 for none.
        num_classes: classes of the pretext task.
    """

    def __init__(self, in_dim: int, hidden_dim: int, num_classes: int) -> None:
        if hidden_dim < 0 or num_classes < 2:
            raise ValueError(f"hidden_dim must be >= 0 and num_classes >= 2, got {hidden_dim}, {num_classes}")
        if hidden_dim == 0:
            super().__init__([(in_dim, num_classes, None, None)])
        else:
            super().__init__([(in_dim, hidden_dim, nn.BatchNorm1d(hidden_dim), nn.ReLU()),
                              (hidden_dim, num_classes, None, None)])


class DenseColorHead(nn.Module):
    """Per-position colour prediction from a feature map (Zhang et al., 2016, arXiv:1603.08511).

    An optional hidden 1x1 convolution (``hidden_dim`` channels, BatchNorm, ReLU),
    then a 1x1 convolution to ``out_channels * upsample^2`` channels rearranged by
    pixel shuffle: ``(B, C, h, w)`` -> ``(B, out_channels, h * upsample, w * upsample)``
    (``out_channels``: Q bin logits, or 2 for ab regression).

    Args:
        in_dim: channels of the feature map.
        out_channels: outputs per position.
        upsample: output positions per feature-map position along each side, >= 1.
        hidden_dim: channels of the hidden layer, 0 for none.
    """

    def __init__(self, in_dim: int, out_channels: int, upsample: int = 1, hidden_dim: int = 0) -> None:
        super().__init__()
        if upsample < 1 or out_channels < 1 or hidden_dim < 0:
            raise ValueError(f"upsample and out_channels must be >= 1 and hidden_dim >= 0, "
                             f"got {upsample}, {out_channels}, {hidden_dim}")
        hidden = [nn.Conv2d(in_dim, hidden_dim, 1, bias=False), nn.BatchNorm2d(hidden_dim), nn.ReLU()] if hidden_dim else []
        self.hidden = nn.Sequential(*hidden)
        self.conv = nn.Conv2d(hidden_dim or in_dim, out_channels * upsample**2, 1)
        self.shuffle = nn.PixelShuffle(upsample)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(self.hidden(x)))
