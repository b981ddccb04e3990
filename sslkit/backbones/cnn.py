"""A small CNN for tests and the CPU quickstart."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sslkit.backbones.registry import register_backbone
from sslkit.backbones.stages import as_tokens


class TinyCNN(nn.Module):
    """A few 3x3 conv-BN-ReLU stages with global average pooling.

    ``num_prefix_tokens = 0``: :meth:`forward_tokens` gives one token per position
    of the last map, no class token.

    Each stage halves the resolution (the first keeps it). Fast enough to
    pretrain on 2 CPU cores in minutes at 16-32 px.

    Args:
        widths: channels of each stage.
        in_chans: input channels.
    """

    def __init__(self, widths: Sequence[int] = (32, 64, 128), in_chans: int = 3) -> None:
        super().__init__()
        if not widths:
            raise ValueError("widths must name at least one stage")
        stages, prev = [], in_chans
        for i, w in enumerate(widths):
            stages.append(
                nn.Sequential(
                    nn.Conv2d(prev, w, 3, stride=1 if i == 0 else 2, padding=1, bias=False),
                    nn.BatchNorm2d(w),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(w, w, 3, padding=1, bias=False),
                    nn.BatchNorm2d(w),
                    nn.ReLU(inplace=True),
                )
            )
            prev = w
        self.stages = nn.ModuleList(stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = prev
        self.num_prefix_tokens = 0

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's map ``(B, C, H', W')``."""
        for stage in self.stages:
            x = stage(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.feature_map(x)).flatten(1)

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's map as tokens ``(B, H' * W', C)``."""
        return as_tokens(self.feature_map(x))


@register_backbone("tiny_cnn")
def tiny_cnn(widths: Sequence[int] = (32, 64, 128), in_chans: int = 3) -> TinyCNN:
    """The tiny CNN (three stages, 128 features by default)."""
    return TinyCNN(widths=widths, in_chans=in_chans)
