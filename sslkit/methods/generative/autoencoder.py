"""Autoencoder (MLP or convolutional) and the decoder builders the generative family shares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from sslkit.backbones import MLPBackbone
from sslkit.backbones.stages import stage_width
from sslkit.heads.generative import ConvDecoder, MLPDecoder, PixelSpace, default_decoder_widths
from sslkit.methods.base import SSLMethod

DecoderKind = Literal["auto", "mlp", "conv"]


def build_decoder(backbone: nn.Module, in_dim: int, kind: DecoderKind, image_size: int, in_chans: int,
                  widths: Sequence[int] | None) -> nn.Module:
    """A decoder from ``in_dim`` codes to ``(in_chans, image_size, image_size)`` images.

    ``auto``: the encoder mirrored for an :class:`~sslkit.backbones.MLPBackbone`
    (hidden widths = its widths reversed, without the code layer), else a
    transposed-conv :class:`~sslkit.heads.ConvDecoder` (``widths`` = channels per
    resolution from 4x4 up; default halving from the backbone's width).
    """
    if kind == "auto":
        kind = "mlp" if isinstance(backbone, MLPBackbone) else "conv"
    if kind == "mlp":
        if widths is None:
            n = len(backbone.stages) if isinstance(backbone, MLPBackbone) else 1
            widths = [stage_width(backbone, i) for i in reversed(range(n - 1))] if n > 1 else [256]
        return MLPDecoder(in_dim, widths, (in_chans, image_size, image_size))
    if kind != "conv":
        raise ValueError(f"decoder must be 'auto', 'mlp' or 'conv', got {kind!r}")
    start = min(4, image_size)
    widths = widths or default_decoder_widths(image_size, max(backbone.num_features, 32), start_size=start)
    return ConvDecoder(in_dim, in_chans, image_size, widths, start_size=start)


def resolve_image_size(backbone: nn.Module, image_size: int | None) -> int:
    """``image_size``, or the MLP backbone's ``input_size`` when not given."""
    if image_size is None:
        if not hasattr(backbone, "input_size"):
            raise ValueError("set image_size (the side of the training images) for this backbone")
        return int(backbone.input_size)
    return image_size


def pixel_space(mean: Sequence[float] | None, std: Sequence[float] | None, channels: int, needed: str = ""
                ) -> PixelSpace | None:
    """A :class:`~sslkit.heads.PixelSpace` from the DataModule's mean / std; an error if ``needed`` and missing."""
    if mean is None or std is None:
        if needed:
            raise ValueError(f"{needed} needs pixel_mean and pixel_std (the mean / std the DataModule normalises with)")
        return None
    return PixelSpace(mean, std, channels)


class Autoencoder(SSLMethod):
    """An autoencoder (Hinton & Salakhutdinov, 2006, "Reducing the Dimensionality of Data with
    Neural Networks", Science 313): the backbone encodes an image to its pooled
    features (the code), a decoder reconstructs the image from the code.

    With the ``mlp`` backbone (``widths: [64, 32, 16]``, ``input_size: 8``) this is
    the classic MLP autoencoder and the decoder mirrors it; with a CNN backbone
    (``tiny_cnn``, ResNets) it is a convolutional autoencoder with a
    transposed-conv decoder. ``recon_loss="mse"`` compares the normalised images;
    ``"bce"`` scores the decoder's logits against the pixels in ``[0, 1]`` and
    ``"sigmoid_mse"`` its sigmoid outputs by MSE (the classic Keras tutorial's
    sigmoid output layer; both need ``pixel_mean`` / ``pixel_std``). :meth:`embed` is the code.

    Args:
        image_size: side of the images (default: the MLP backbone's ``input_size``).
        in_chans: image channels.
        decoder: ``"auto"`` (mirrored MLP for the ``mlp`` backbone, else conv), ``"mlp"`` or ``"conv"``.
        decoder_widths: hidden widths (MLP, code side first) or channels per resolution (conv, 4x4 first).
        recon_loss: ``"mse"``, ``"bce"`` or ``"sigmoid_mse"``.
        pixel_mean: the DataModule's per-channel mean (``bce`` / ``sigmoid_mse`` only).
        pixel_std: the DataModule's per-channel std (``bce`` / ``sigmoid_mse`` only).
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    num_views = (1, 1)

    def __init__(self, image_size: int | None = None, in_chans: int = 3, decoder: DecoderKind = "auto",
                 decoder_widths: list[int] | None = None, recon_loss: Literal["mse", "bce", "sigmoid_mse"] = "mse",
                 pixel_mean: list[float] | None = None, pixel_std: list[float] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if recon_loss not in ("mse", "bce", "sigmoid_mse"):
            raise ValueError(f"recon_loss must be 'mse', 'bce' or 'sigmoid_mse', got {recon_loss!r}")
        self.recon_loss = recon_loss
        self.image_size = resolve_image_size(self.backbone, image_size)
        self.pixels = pixel_space(pixel_mean, pixel_std, in_chans, f"recon_loss={recon_loss!r}" if recon_loss != "mse" else "")
        self.decoder = build_decoder(self.backbone, self.backbone.num_features, decoder, self.image_size, in_chans,
                                     decoder_widths)

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's input made from a clean batch (identity here; noise in the denoising autoencoder)."""
        return x

    def to_images(self, out: torch.Tensor) -> torch.Tensor:
        """Decoder outputs as images in the normalised space."""
        return out if self.recon_loss == "mse" else self.pixels.from_unit(torch.sigmoid(out))

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        x = views[0]
        out = self.decoder(self.backbone(self.corrupt(x)))
        if self.recon_loss == "bce":
            loss = F.binary_cross_entropy_with_logits(out, self.pixels.to_unit(x).clamp(0, 1))
        elif self.recon_loss == "sigmoid_mse":
            loss = F.mse_loss(torch.sigmoid(out), self.pixels.to_unit(x))
        else:
            loss = F.mse_loss(out, x)
        return {"loss": loss}

    def preview_images(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstructions of the clean inputs."""
        return self.to_images(self.decoder(self.backbone(x)))
