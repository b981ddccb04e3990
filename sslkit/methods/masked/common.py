"""Backbone checks shared by the masked-image methods."""

from __future__ import annotations

from torch import nn


def vit_grid(backbone: nn.Module, method: str) -> tuple[int, int]:
    """The patch grid ``(gh, gw)`` of a timm ViT backbone; a clear error for any other backbone."""
    if not getattr(backbone, "masks_inside", False) or not getattr(backbone, "patch_size", None):
        raise ValueError(f"{method} needs a timm vision transformer backbone (e.g. timm:vit_tiny_patch16_224 with "
                         f"img_size / patch_size in backbone_kwargs), got {type(backbone).__name__}")
    vit = backbone.model
    if isinstance(getattr(vit, "norm", None), nn.Identity) and not isinstance(getattr(vit, "fc_norm", None), nn.Identity):
        raise ValueError(f"{method}: the ViT's final LayerNorm was moved to fc_norm (timm does this for global_pool: "
                         "avg), so the encoder's tokens would be un-normalised and fc_norm would get no gradient; add "
                         "fc_norm: false to backbone_kwargs (keeps the final norm; avg pools normalised tokens)")
    return tuple(int(g) for g in vit.patch_embed.grid_size)


def input_channels(backbone: nn.Module) -> int:
    """Image channels the backbone takes: ``in_channels`` of its first convolution (a ViT's patch embedding)."""
    for m in backbone.modules():
        if isinstance(m, nn.Conv2d):
            return int(m.in_channels)
    raise ValueError(f"cannot tell the input channels of {type(backbone).__name__} (no Conv2d)")
