"""A multilayer perceptron on flattened images (the classic MLP autoencoder's encoder)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sslkit.backbones.registry import register_backbone


class MLPBackbone(nn.Module):
    """Fully connected stages on the flattened image, ``in_chans * input_size ** 2`` inputs.

    Each stage is ``Linear -> ReLU``; the last stage stays linear unless
    ``last_activation`` (a linear bottleneck keeps every code unit usable).
    ``num_features`` is the last width; :meth:`forward_tokens` returns the code
    as a single token, ``num_prefix_tokens = 0``.

    Args:
        widths: width of each stage, input side first (e.g. ``[64, 32, 16]``).
        input_size: side of the square input images.
        in_chans: input channels.
        last_activation: apply the ReLU after the last stage too.
    """

    def __init__(self, widths: Sequence[int] = (256, 128), input_size: int = 32, in_chans: int = 3,
                 last_activation: bool = False) -> None:
        super().__init__()
        if not widths or min(widths) < 1 or input_size < 1 or in_chans < 1:
            raise ValueError(f"MLPBackbone needs positive widths, input_size and in_chans, got {widths}, "
                             f"{input_size}, {in_chans}")
        self.input_size, self.in_chans = input_size, in_chans
        self.in_features = in_chans * input_size * input_size
        stages, prev = [], self.in_features
        for i, w in enumerate(widths):
            last = i == len(widths) - 1
            stages.append(nn.Sequential(nn.Linear(prev, w), *([] if last and not last_activation else [nn.ReLU()])))
            prev = w
        self.stages = nn.ModuleList(stages)
        self.num_features = int(prev)
        self.num_prefix_tokens = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x[0].numel() != self.in_features:
            raise ValueError(f"MLPBackbone expects {self.in_chans}x{self.input_size}x{self.input_size} inputs "
                             f"({self.in_features} values), got {tuple(x.shape[1:])}; set input_size / in_chans")
        x = x.flatten(1)
        for stage in self.stages:
            x = stage(x)
        return x

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """The code as one token ``(B, 1, num_features)``."""
        return self(x).unsqueeze(1)


@register_backbone("mlp")
def mlp(widths: Sequence[int] = (256, 128), input_size: int = 32, in_chans: int = 3,
        last_activation: bool = False) -> MLPBackbone:
    """The MLP on flattened images (``widths=[64, 32, 16], input_size=8`` for 8x8 digits)."""
    return MLPBackbone(widths=widths, input_size=input_size, in_chans=in_chans, last_activation=last_activation)
