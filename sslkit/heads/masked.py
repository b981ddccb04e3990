"""Decoders of masked image modelling: MAE's transformer decoder and SimMIM's pixel-shuffle head."""

from __future__ import annotations

import torch
from torch import nn


def sincos_pos_embed(dim: int, grid: tuple[int, int]) -> torch.Tensor:
    """Fixed 2-D sine-cosine position embeddings ``(gh * gw, dim)`` (MAE's ``get_2d_sincos_pos_embed``).

    Half of the channels encode the row, half the column, each as ``sin`` and
    ``cos`` of the position at ``dim / 4`` frequencies ``1 / 10000^(i / (dim / 4))``.
    """
    if dim % 4:
        raise ValueError(f"sine-cosine position embeddings need a width divisible by 4, got {dim}")
    freq = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim // 4))
    rows, cols = torch.meshgrid(torch.arange(grid[0], dtype=torch.float64),
                                torch.arange(grid[1], dtype=torch.float64), indexing="ij")

    def enc(pos: torch.Tensor) -> torch.Tensor:
        angle = pos.reshape(-1, 1) * freq
        return torch.cat([angle.sin(), angle.cos()], dim=1)

    return torch.cat([enc(rows), enc(cols)], dim=1).float()


class MAEDecoder(nn.Module):
    """MAE's light decoder (He et al., 2021, arXiv:2111.06377, section 3).

    Encoder tokens of the visible patches are projected to ``dim``, a shared
    learnable mask token fills the masked positions, the sequence is put back in
    patch order (``ids_restore``), fixed sine-cosine position embeddings are
    added, and ``depth`` pre-norm transformer blocks and a linear layer predict
    each patch's ``patch_dim`` pixel values. Prefix (class) tokens pass through
    the blocks and are dropped from the output.

    Args:
        in_dim: encoder token width.
        patch_dim: pixels per patch (``p * p * C``).
        grid: patch grid ``(gh, gw)`` of the training images.
        dim: decoder width (512 in MAE).
        depth: decoder blocks (8 in MAE).
        num_heads: attention heads (16 in MAE).
        mlp_ratio: hidden width of each block's MLP as a multiple of ``dim``.
        num_prefix_tokens: class / register tokens in front of the encoder's patch tokens.
    """

    def __init__(self, in_dim: int, patch_dim: int, grid: tuple[int, int], dim: int = 512, depth: int = 8,
                 num_heads: int = 16, mlp_ratio: float = 4.0, num_prefix_tokens: int = 1) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"decoder width {dim} must be divisible by num_heads={num_heads}")
        if depth < 0:
            raise ValueError(f"decoder depth must be >= 0, got {depth}")
        self.num_prefix_tokens = num_prefix_tokens
        self.embed = nn.Linear(in_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        pos = torch.cat([torch.zeros(num_prefix_tokens, dim), sincos_pos_embed(dim, grid)])
        self.register_buffer("pos_embed", pos.unsqueeze(0), persistent=False)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(dim, num_heads, int(dim * mlp_ratio), dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True)
            for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.pred = nn.Linear(dim, patch_dim)
        nn.init.normal_(self.mask_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, tokens: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """Predict every patch.

        Args:
            tokens: encoder output ``(B, P + K, in_dim)``: prefix tokens, then the ``K`` visible patches.
            ids_restore: ``(B, N)`` from :func:`~sslkit.utils.masking.random_masking`.

        Returns:
            ``(B, N, patch_dim)`` predictions in patch order.
        """
        p = self.num_prefix_tokens
        x = self.embed(tokens)
        b, n = ids_restore.shape
        fill = self.mask_token.expand(b, n - (x.shape[1] - p), -1)
        patches = torch.cat([x[:, p:], fill], dim=1)
        patches = torch.gather(patches, 1, ids_restore.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        x = torch.cat([x[:, :p], patches], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.pred(self.norm(x))[:, p:]


class PixelShuffleDecoder(nn.Module):
    """SimMIM's one-layer decoder (Xie et al., 2021, arXiv:2111.09886, section 3.3).

    A 1x1 convolution maps each position of a ``(B, C, h, w)`` feature map to
    ``scale * scale * out_channels`` values, and a pixel shuffle lays them out
    as a ``(B, out_channels, h * scale, w * scale)`` image.

    Args:
        in_dim: feature channels ``C``.
        scale: total stride of the encoder (pixels per feature position along a side).
        out_channels: image channels.
    """

    def __init__(self, in_dim: int, scale: int, out_channels: int = 3) -> None:
        super().__init__()
        if scale < 1:
            raise ValueError(f"scale must be >= 1, got {scale}")
        self.scale = scale
        self.conv = nn.Conv2d(in_dim, scale * scale * out_channels, kernel_size=1)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(features))
