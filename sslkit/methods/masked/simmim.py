"""SimMIM / inpainting."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from sslkit.heads.masked import PixelShuffleDecoder
from sslkit.losses.masked import MaskedReconstructionLoss
from sslkit.methods.base import SSLMethod
from sslkit.methods.masked.common import input_channels, vit_grid
from sslkit.utils.masking import patch_grid, patchify, random_masking, upsample_mask, vit_tokens


class SimMIM(SSLMethod):
    """SimMIM (Xie et al., 2021, "SimMIM: A Simple Framework for Masked Image
    Modeling", arXiv:2111.09886), also on CNNs as patch inpainting in the spirit
    of context encoders (Pathak et al., 2016, arXiv:1604.07379).

    ``round(mask_ratio * M)`` of the ``M`` square mask patches (``mask_patch_size``
    pixels) of each image are hidden: a ViT backbone sees a learnable mask
    token instead of their patch embeddings (every position stays in the
    sequence); any other backbone (a CNN) sees their pixels replaced by a
    learnable per-channel fill (``fill="learned"``) or by 0, the dataset mean in
    normalised space (``fill="zero"``). A one-layer decoder (1x1 convolution +
    pixel shuffle, :class:`~sslkit.heads.PixelShuffleDecoder`) turns the final
    feature map (ViT patch tokens laid out on their grid) back into pixels; the
    loss is L1 over the masked pixels only. Evaluation embeds unmasked images.

    Args:
        mask_ratio: fraction of mask patches hidden per image (0.6 in the paper).
        mask_patch_size: side of a mask patch in pixels (32 at 192 px in the paper); a
            multiple of a ViT's patch size.
        encoder_stride: pixels per feature-map position along a side; a ViT's patch
            size by default, required for other backbones (e.g. 4 for a 3-stage tiny_cnn).
        fill: what replaces masked pixels of a non-ViT input: ``"learned"`` or ``"zero"``.
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    num_views = (1, 1)

    def __init__(self, mask_ratio: float = 0.6, mask_patch_size: int = 32, encoder_stride: int | None = None,
                 fill: Literal["learned", "zero"] = "learned", **kwargs) -> None:
        super().__init__(**kwargs)
        self.is_vit = bool(getattr(self.backbone, "masks_inside", False))
        if self.is_vit:
            vit_grid(self.backbone, "SimMIM")
            encoder_stride = encoder_stride or int(self.backbone.patch_size)
            if encoder_stride != self.backbone.patch_size or mask_patch_size % encoder_stride:
                raise ValueError(f"mask_patch_size={mask_patch_size} must be a multiple of the ViT patch size "
                                 f"{self.backbone.patch_size} (and encoder_stride equal to it)")
        elif encoder_stride is None:
            raise ValueError("SimMIM on a non-ViT backbone needs encoder_stride (its total stride, e.g. 4 for "
                             "tiny_cnn with 3 stages)")
        if fill not in ("learned", "zero"):
            raise ValueError(f"fill must be 'learned' or 'zero', got {fill!r}")
        random_masking(1, 4, mask_ratio)  # a ratio outside [0, 1) fails here
        self.mask_ratio, self.mask_patch_size, self.encoder_stride = mask_ratio, mask_patch_size, encoder_stride
        self.in_chans = input_channels(self.backbone)
        width = self.backbone.num_features
        if self.is_vit or fill == "learned":  # ViT: a mask token (std 0.02 as in SimMIM); CNN: a pixel fill
            self.mask_token = nn.Parameter(torch.randn(width) * 0.02 if self.is_vit else torch.zeros(self.in_chans))
        else:
            self.register_buffer("mask_token", torch.zeros(self.in_chans))
        self.decoder = PixelShuffleDecoder(width, encoder_stride, self.in_chans)
        self.criterion = MaskedReconstructionLoss("l1")

    def random_mask(self, x: torch.Tensor) -> torch.Tensor:
        """A ``(B, M)`` mask over the mask-patch grid of ``x`` (``True`` = hidden)."""
        gh, gw = patch_grid(x, self.mask_patch_size)
        return random_masking(x.shape[0], gh * gw, self.mask_ratio, x.device).mask

    def reconstruct(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Predicted images ``(B, C, H, W)`` from ``x`` with the mask patches in ``mask`` hidden."""
        grid, s = patch_grid(x, self.mask_patch_size), self.encoder_stride
        if self.is_vit:
            fine = upsample_mask(mask, grid, self.mask_patch_size // s).flatten(1)
            tokens = vit_tokens(self.backbone, x, fine, self.mask_token)[0][:, self.backbone.num_prefix_tokens:]
        else:
            pixels = upsample_mask(mask, grid, self.mask_patch_size).unsqueeze(1)
            tokens = self.backbone.forward_tokens(torch.where(pixels, self.mask_token.view(1, -1, 1, 1), x))
        h, w = x.shape[-2] // s, x.shape[-1] // s
        if tokens.shape[1] != h * w:
            raise ValueError(f"the backbone gives {tokens.shape[1]} positions for {tuple(x.shape[-2:])} images, "
                             f"not ({h} x {w}): encoder_stride={s} is not its total stride")
        return self.decoder(tokens.transpose(1, 2).reshape(x.shape[0], -1, h, w))

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        x = views[0]
        mask = self.random_mask(x)
        pred = self.reconstruct(x, mask)
        p = self.mask_patch_size
        return {"loss": self.criterion(patchify(pred, p), patchify(x, p), mask)}

    @torch.no_grad()
    def preview_images(self, x: torch.Tensor) -> torch.Tensor:
        """Inpainted images: visible pixels from ``x``, masked patches predicted."""
        mask = self.random_mask(x)
        pixels = upsample_mask(mask, patch_grid(x, self.mask_patch_size), self.mask_patch_size).unsqueeze(1)
        return torch.where(pixels, self.reconstruct(x, mask).to(x.dtype), x)
