"""A small CNN for tests and the CPU quickstart."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

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
        norm: ``"batch"`` (BatchNorm), ``"layer"`` (GroupNorm with one group: LayerNorm over each
            image's channels and positions) or ``"group"`` (GroupNorm, 8 groups). The last two use no
            batch statistics, so the images of a batch (e.g. CPC's patches) cannot share information.
    """

    def __init__(self, widths: Sequence[int] = (32, 64, 128), in_chans: int = 3,
                 norm: Literal["batch", "layer", "group"] = "batch") -> None:
        super().__init__()
        if not widths:
            raise ValueError("widths must name at least one stage")
        if norm not in ("batch", "layer", "group"):
            raise ValueError(f"norm must be 'batch', 'layer' or 'group', got {norm!r}")

        def make_norm(w: int) -> nn.Module:
            return nn.BatchNorm2d(w) if norm == "batch" else nn.GroupNorm(1 if norm == "layer" else min(8, w), w)

        stages, prev = [], in_chans
        for i, w in enumerate(widths):
            stages.append(
                nn.Sequential(
                    nn.Conv2d(prev, w, 3, stride=1 if i == 0 else 2, padding=1, bias=False),
                    make_norm(w),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(w, w, 3, padding=1, bias=False),
                    make_norm(w),
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
def tiny_cnn(widths: Sequence[int] = (32, 64, 128), in_chans: int = 3,
             norm: Literal["batch", "layer", "group"] = "batch") -> TinyCNN:
    """The tiny CNN (three stages, 128 features by default; ``norm`` as in :class:`TinyCNN`)."""
    return TinyCNN(widths=widths, in_chans=in_chans, norm=norm)
