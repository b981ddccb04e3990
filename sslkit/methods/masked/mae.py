"""MAE."""

from __future__ import annotations

import torch

from sslkit.heads.masked import MAEDecoder
from sslkit.losses.masked import MaskedReconstructionLoss
from sslkit.methods.base import SSLMethod
from sslkit.methods.masked.common import input_channels, vit_grid
from sslkit.utils.masking import RandomMask, patch_grid, patchify, random_masking, unpatchify


class MAE(SSLMethod):
    """Masked autoencoder (He et al., 2021, "Masked Autoencoders Are Scalable
    Vision Learners", arXiv:2111.06377).

    Each image loses ``round(mask_ratio * N)`` of its ``N`` patches, chosen per
    image by sorting uniform noise; the ViT encoder sees only the visible
    patches (``backbone.forward_tokens(x, keep=ids_keep)``: masked patches never
    enter a block); a light transformer decoder (:class:`~sslkit.heads.MAEDecoder`)
    fills in mask tokens and predicts the pixels of every patch; the loss is the
    per-patch MSE averaged over the masked patches only, against each patch's
    normalised pixels with ``norm_pix_loss`` (what the paper's representation
    results use). Evaluation embeds full, unmasked images with the encoder
    (the base's :meth:`embed`: the class token, or the mean of the patch tokens
    with ``global_pool: avg`` in ``backbone_kwargs``).

    One view per image (``num_views: 1``); the paper uses crop and flip only.

    Args:
        mask_ratio: fraction of patches removed per image (0.75 in the paper).
        decoder_dim: decoder width (512).
        decoder_depth: decoder blocks (8; the linear probe degrades with shallower decoders).
        decoder_num_heads: decoder attention heads (16).
        norm_pix_loss: regress per-patch standardised pixels (variance + 1e-6).
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`; the backbone must be a timm ViT.
    """

    num_views = (1, 1)

    def __init__(self, mask_ratio: float = 0.75, decoder_dim: int = 512, decoder_depth: int = 8,
                 decoder_num_heads: int = 16, norm_pix_loss: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.grid = vit_grid(self.backbone, "MAE")
        random_masking(1, self.grid[0] * self.grid[1], mask_ratio)  # a bad ratio fails here
        self.mask_ratio = mask_ratio
        self.patch_size = int(self.backbone.patch_size)
        self.in_chans = input_channels(self.backbone)
        self.decoder = MAEDecoder(self.backbone.num_features, self.patch_size ** 2 * self.in_chans, self.grid,
                                  decoder_dim, decoder_depth, decoder_num_heads,
                                  num_prefix_tokens=self.backbone.num_prefix_tokens)
        self.criterion = MaskedReconstructionLoss("mse", norm_pix=norm_pix_loss)

    def reconstruct(self, x: torch.Tensor, masking: RandomMask | None = None) -> tuple[torch.Tensor, RandomMask]:
        """Predicted patches ``(B, N, p * p * C)`` of images ``x`` under a (new random) mask, and the mask."""
        if patch_grid(x, self.patch_size) != self.grid:
            raise ValueError(f"MAE was built for a {self.grid} patch grid, got images of size {tuple(x.shape[-2:])}")
        if masking is None:
            masking = random_masking(x.shape[0], self.grid[0] * self.grid[1], self.mask_ratio, x.device)
        tokens = self.backbone.forward_tokens(x, keep=masking.ids_keep)
        return self.decoder(tokens, masking.ids_restore), masking

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        x = views[0]
        pred, masking = self.reconstruct(x)
        return {"loss": self.criterion(pred, patchify(x, self.patch_size), masking.mask)}

    @torch.no_grad()
    def preview_images(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstructions of ``x`` under a random mask: visible patches pasted from the input,
        masked ones predicted (un-normalised with each true patch's mean and std under ``norm_pix_loss``)."""
        patches = patchify(x, self.patch_size)
        pred, masking = self.reconstruct(x)
        if self.criterion.norm_pix:
            pred = pred * (patches.var(-1, keepdim=True) + self.criterion.eps) ** 0.5 + patches.mean(-1, keepdim=True)
        out = torch.where(masking.mask.unsqueeze(-1), pred.to(patches.dtype), patches)
        return unpatchify(out, self.patch_size, self.grid, self.in_chans)
