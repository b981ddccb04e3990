"""Heads of the sequence methods: CPC's autoregressive context network and a future-frame decoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RowCausalContext(nn.Module):
    """CPC's context network over a grid of patch embeddings, autoregressive over rows
    (van den Oord et al., 2018, arXiv:1807.03748; Hénaff et al., 2019, arXiv:1905.09272).

    A stack of residual convolutions masked in the vertical direction: each
    ``(2, 3)`` kernel is applied after padding one row *above* the map, so the
    context at row ``i`` sees rows ``<= i`` only (every column within reach),
    never the rows it will be asked to predict. A 1x1 input projection sets the
    width; ``layers`` residual blocks widen the receptive field upward by one
    row and sideways by one column each.

    Args:
        in_dim: width of the patch embeddings.
        dim: width of the context vectors.
        layers: residual masked-conv blocks, >= 1.

    Shapes: ``(B, rows, cols, in_dim) -> (B, rows, cols, dim)``.
    """

    def __init__(self, in_dim: int, dim: int = 256, layers: int = 2) -> None:
        super().__init__()
        if layers < 1 or dim < 1:
            raise ValueError(f"layers and dim must be >= 1, got layers={layers}, dim={dim}")
        self.proj = nn.Conv2d(in_dim, dim, 1)
        self.blocks = nn.ModuleList(nn.Conv2d(dim, dim, (2, 3)) for _ in range(layers))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.proj(z.permute(0, 3, 1, 2))
        for conv in self.blocks:
            x = x + conv(F.pad(F.relu(x), (1, 1, 1, 0)))  # pad (left, right, top, bottom): causal in rows
        return x.permute(0, 2, 3, 1)


class FrameDecoder(nn.Module):
    """Predicts the next frame(s) from the feature maps of the previous ``context`` frames.

    The maps ``(B, context, D, h, w)`` are concatenated along channels, mixed by
    two 3x3 convolutions at the map resolution (the temporal model: it sees
    exactly the ``context`` frames before the target), upsampled bilinearly to
    the frame size and refined by two 3x3 convolutions at full resolution into
    ``horizon`` frames of ``channels`` channels.

    Args:
        in_dim: width ``D`` of the frame encoder's feature maps.
        context: frames the prediction is made from.
        channels: channels of a frame.
        horizon: future frames predicted at once.
        hidden: width of the map-level convolutions.
        pixel_hidden: width of the full-resolution convolutions.

    Shapes: ``(B, context, D, h, w) -> (B, horizon, channels, H, W)`` for ``size=(H, W)``.
    """

    def __init__(self, in_dim: int, context: int = 2, channels: int = 3, horizon: int = 1, hidden: int = 128,
                 pixel_hidden: int = 32) -> None:
        super().__init__()
        if min(in_dim, context, channels, horizon, hidden, pixel_hidden) < 1:
            raise ValueError("every FrameDecoder size must be >= 1")
        self.channels, self.horizon = channels, horizon
        self.temporal = nn.Sequential(nn.Conv2d(context * in_dim, hidden, 3, padding=1), nn.ReLU(inplace=True),
                                      nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(inplace=True),
                                      nn.Conv2d(hidden, pixel_hidden, 1))
        self.pixels = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(pixel_hidden, pixel_hidden, 3, padding=1),
                                    nn.ReLU(inplace=True), nn.Conv2d(pixel_hidden, horizon * channels, 3, padding=1))

    def forward(self, maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b = maps.shape[0]
        x = self.temporal(maps.flatten(1, 2))
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return self.pixels(x).view(b, self.horizon, self.channels, *size)
