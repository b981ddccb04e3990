"""Decoders, generators and discriminator heads of the generative methods."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class PixelSpace(nn.Module):
    """Maps normalised images to ``[0, 1]`` pixels and back, with the DataModule's per-channel mean / std.

    Args:
        mean: per-channel mean the inputs were normalised with (one value is repeated over ``channels``).
        std: per-channel standard deviation.
        channels: image channels.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], channels: int) -> None:
        super().__init__()
        mean, std = list(mean), list(std)
        mean = mean * channels if len(mean) == 1 else mean
        std = std * channels if len(std) == 1 else std
        if len(mean) != channels or len(std) != channels or min(std) <= 0:
            raise ValueError(f"pixel_mean / pixel_std need 1 or {channels} values (std > 0), got {mean}, {std}")
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images to pixels (``[0, 1]`` for images that came from there)."""
        return x * self.std + self.mean

    def from_unit(self, p: torch.Tensor) -> torch.Tensor:
        """Pixels in ``[0, 1]`` to the normalised space."""
        return (p - self.mean) / self.std


class MLPDecoder(nn.Module):
    """``Linear -> ReLU`` stages from a code to a flattened image, reshaped to ``out_shape``.

    Args:
        in_dim: code size.
        hidden: hidden widths, code side first (the encoder's widths reversed, without its last).
        out_shape: ``(C, H, W)`` of the output.
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], out_shape: tuple[int, int, int]) -> None:
        super().__init__()
        layers, prev = [], in_dim
        for w in hidden:
            layers += [nn.Linear(prev, w), nn.ReLU()]
            prev = w
        layers.append(nn.Linear(prev, math.prod(out_shape)))
        self.net, self.out_shape = nn.Sequential(*layers), tuple(out_shape)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.out_shape)


class ConvDecoder(nn.Module):
    """DCGAN-style decoder / generator: a code to a ``start_size`` map, then stride-2 transposed convs.

    ``Linear -> (widths[0], s, s)``, then per further width a 4x4 stride-2
    ``ConvTranspose2d -> BatchNorm -> ReLU`` doubling the side, and a 3x3 conv
    to ``out_chans`` (no output activation: the method chooses one).

    Args:
        in_dim: code (or latent) size.
        out_chans: output channels.
        image_size: output side; must be ``start_size * 2 ** (len(widths) - 1)``.
        widths: channels at each resolution, coarse first.
        start_size: side of the first map.
    """

    def __init__(self, in_dim: int, out_chans: int, image_size: int, widths: Sequence[int],
                 start_size: int = 4) -> None:
        super().__init__()
        if not widths or start_size * 2 ** (len(widths) - 1) != image_size:
            raise ValueError(f"ConvDecoder: image_size={image_size} needs start_size * 2 ** (len(widths) - 1); "
                             f"got widths={list(widths)}, start_size={start_size}")
        self.fc = nn.Sequential(nn.Linear(in_dim, widths[0] * start_size**2), nn.ReLU())
        self.start = (widths[0], start_size, start_size)
        ups = []
        for a, b in zip(widths[:-1], widths[1:]):
            ups += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]
        self.ups = nn.Sequential(*ups)
        self.out = nn.Conv2d(widths[-1], out_chans, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.ups(self.fc(z).view(-1, *self.start)))


def default_decoder_widths(image_size: int, top: int, start_size: int = 4, floor: int = 16) -> list[int]:
    """Channels halving from ``top`` at each doubling from ``start_size`` to ``image_size`` (at least ``floor``)."""
    steps = int(round(math.log2(image_size / start_size)))
    return [max(top // 2**i, floor) for i in range(steps + 1)]


class GANGenerator(nn.Module):
    """A :class:`~sslkit.heads.ConvDecoder` from a latent code to images in the normalised space.

    With ``pixels`` (a :class:`~sslkit.heads.PixelSpace`) the output goes
    through ``tanh`` to ``[0, 1]`` pixels and is then normalised (DCGAN's
    bounded output); without, it is the decoder's raw output.
    """

    def __init__(self, latent_dim: int, in_chans: int, image_size: int, widths: list[int] | None,
                 pixels: nn.Module | None) -> None:
        super().__init__()
        start = min(4, image_size)
        widths = widths or default_decoder_widths(image_size, 256, start)
        self.net = ConvDecoder(latent_dim, in_chans, image_size, widths, start_size=start)
        self.pixels, self.latent_dim = pixels, latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.net(z)
        return out if self.pixels is None else self.pixels.from_unit(0.5 * torch.tanh(out) + 0.5)


class JointDiscriminator(nn.Module):
    """BiGAN / ALI discriminator ``D(x, z)``: pooled image features and an embedded code, then an MLP to one logit.

    Args:
        image_trunk: a backbone giving ``(B, num_features)`` from images.
        latent_dim: code size.
        hidden_dim: width of the code embedding and of the joint MLP.
        dropout: dropout on the image features, the code embedding and the joint hidden layer (ALI uses 0.2).
    """

    def __init__(self, image_trunk: nn.Module, latent_dim: int, hidden_dim: int = 256, dropout: float = 0.0) -> None:
        super().__init__()
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.image_trunk = image_trunk
        self.drop = nn.Dropout(dropout)
        self.code = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.LeakyReLU(0.2), nn.Dropout(dropout))
        self.joint = nn.Sequential(nn.Linear(image_trunk.num_features + hidden_dim, hidden_dim), nn.LeakyReLU(0.2),
                                   nn.Dropout(dropout), nn.Linear(hidden_dim, 1))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.joint(torch.cat([self.drop(self.image_trunk(x)), self.code(z)], dim=1)).squeeze(1)


class TimestepEmbedding(nn.Module):
    """Sinusoidal embedding of integer timesteps followed by a two-layer MLP (DDPM, Ho et al. 2020).

    Args:
        dim: embedding size (even).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim < 2 or dim % 2:
            raise ValueError(f"TimestepEmbedding needs an even dim >= 2, got {dim}")
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        angles = t.float()[:, None] * freqs[None]
        return self.mlp(torch.cat([angles.sin(), angles.cos()], dim=1))


class StageDecoder(nn.Module):
    """A light U-Net decoder over a CNN backbone's stage maps (top-down, with lateral 1x1 convs).

    From the last stage down, the running map is upsampled to the next
    earlier stage's size, added to its lateral projection and refined by a
    3x3 conv (GroupNorm, SiLU, plus the timestep embedding); at input
    resolution it is concatenated with the input and mapped to ``out_chans``.

    Args:
        stage_widths: channels of each backbone stage, input side first.
        out_chans: output channels.
        width: channels of the decoder.
        embed_dim: size of the conditioning embedding added in every block.
    """

    def __init__(self, stage_widths: Sequence[int], out_chans: int, width: int = 64, embed_dim: int = 128) -> None:
        super().__init__()
        groups = math.gcd(8, width)
        self.lateral = nn.ModuleList(nn.Conv2d(w, width, 1) for w in stage_widths)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.GroupNorm(groups, width), nn.SiLU())
            for _ in stage_widths)
        self.cond = nn.ModuleList(nn.Linear(embed_dim, width) for _ in stage_widths)
        self.out = nn.Sequential(nn.Conv2d(width + out_chans, width, 3, padding=1), nn.SiLU(),
                                 nn.Conv2d(width, out_chans, 3, padding=1))

    def forward(self, maps: list[torch.Tensor], x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = None
        for i in reversed(range(len(maps))):
            lat = self.lateral[i](maps[i])
            h = lat if h is None else F.interpolate(h, size=lat.shape[-2:], mode="nearest") + lat
            h = self.blocks[i](h + self.cond[i](emb)[:, :, None, None])
        h = F.interpolate(h, size=x.shape[-2:], mode="nearest")
        return self.out(torch.cat([h, x], dim=1))
