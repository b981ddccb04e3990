"""Colorization: predict the colour (ab of Lab) of an image from its lightness."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.distributed as dist
import torch.nn.functional as F

from sslkit.heads.pretext import DenseColorHead
from sslkit.losses.pretext import ColorizationLoss, rebalancing_weights
from sslkit.methods.base import SSLMethod
from sslkit.utils.color import ab_bins, lab_to_rgb, orientation_colours, polar_colours, rgb_to_lab
from sslkit.utils.distributed import world_size

AB_SCALE = 110.0  # regression targets are ab / AB_SCALE


class Colorization(SSLMethod):
    """Colorization (Zhang, Isola and Efros, 2016, "Colorful Image Colorization", arXiv:1603.08511).

    Views arrive normalised with the DataModule's ``input_mean`` / ``input_std``;
    they are mapped back to sRGB and converted to Lab. The backbone sees the
    lightness only, ``(L - 50) / 50`` repeated to 3 channels (so the same
    backbone and :meth:`embed` apply to ordinary images: evaluation embeds
    their lightness too), and a 1x1-conv head on its last feature map predicts
    the ab colour of every position (``upsample`` positions per map position
    and side; the ab target is averaged down to that resolution):

    * ``target="bins"``: Q-way classification over the in-gamut ab bins
      (:func:`~sslkit.utils.color.ab_bins`) with soft-encoded targets and class
      rebalancing (:class:`~sslkit.losses.ColorizationLoss`); the bin prior is
      a running average of the training targets (``prior_momentum``; the
      paper measures it on ImageNet beforehand), ``rebalance`` is the paper's
      lambda (1: no rebalancing). Colours are decoded by the annealed mean
      (``temperature``, 0.38 in the paper).
    * ``target="regression"``: mean squared error on ab / 110.

    Grey data (digits) has no colour, so a substitute colouring computed from
    the grey image makes the target: ``recolour="orientation"`` colours strokes
    by their local direction (:func:`~sslkit.utils.color.orientation_colours`,
    chroma ``tint_chroma``, scale ``tint_sigma``), ``"polar"`` by their angle
    around the centre of ink (:func:`~sslkit.utils.color.polar_colours`). The
    ab target is then a deterministic, non-local function of the lightness
    (a random tint would be unpredictable from it, teaching nothing).

    Args:
        input_mean: per-channel mean the inputs were normalised with (the DataModule's ``mean``; the CLI fills it).
        input_std: per-channel std the inputs were normalised with (the DataModule's ``std``).
        target: ``"bins"`` (classification) or ``"regression"``.
        bin_size: side of the ab bins.
        neighbours: bins of the soft encoding.
        sigma: soft-encoding and prior-smoothing width in ab units.
        rebalance: lambda of the class rebalancing, in ``[0, 1]`` (1: none).
        prior_momentum: momentum of the running bin prior, in ``[0, 1)``.
        temperature: annealed-mean temperature for decoding colours, > 0.
        upsample: predictions per feature-map position along each side.
        head_hidden_dim: hidden 1x1-conv width of the colour head (0: linear).
        recolour: ``"none"`` (colour data), ``"orientation"`` or ``"polar"`` (grey data).
        tint_chroma: largest ab radius of the substitute colouring.
        tint_sigma: scale in pixels of the orientation colouring.
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    num_views = (1, 1)

    def __init__(self, input_mean: tuple[float, float, float] | None = None, input_std: tuple[float, float, float] | None = None,
                 target: Literal["bins", "regression"] = "bins", bin_size: float = 10.0, neighbours: int = 5,
                 sigma: float = 5.0, rebalance: float = 0.5, prior_momentum: float = 0.99, temperature: float = 0.38,
                 upsample: int = 1, head_hidden_dim: int = 0, recolour: Literal["none", "orientation", "polar"] = "none", tint_chroma: float = 60.0,
                 tint_sigma: float = 1.5, **kwargs) -> None:
        super().__init__(**kwargs)
        if target not in ("bins", "regression") or recolour not in ("none", "orientation", "polar"):
            raise ValueError(f"target must be 'bins' or 'regression' and recolour 'none', 'orientation' or 'polar', "
                             f"got {target!r}, {recolour!r}")
        if input_mean is None or input_std is None:
            raise ValueError("Colorization needs input_mean and input_std (the DataModule's mean / std; sslkit fit fills them)")
        if len(input_mean) != 3 or len(input_std) != 3 or min(input_std) <= 0:
            raise ValueError(f"input_mean and input_std need 3 values (std > 0), got {input_mean}, {input_std}")
        if not 0 <= rebalance <= 1 or not 0 <= prior_momentum < 1 or temperature <= 0:
            raise ValueError("rebalance must be in [0, 1], prior_momentum in [0, 1) and temperature > 0")
        self.register_buffer("input_mean", torch.tensor(input_mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("input_std", torch.tensor(input_std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.target, self.recolour, self.tint = target, recolour, (tint_chroma, tint_sigma)
        self.rebalance, self.prior_momentum, self.temperature, self.sigma = rebalance, prior_momentum, temperature, sigma
        if target == "bins":
            self.criterion = ColorizationLoss(ab_bins(bin_size), neighbours, sigma)
            self.register_buffer("prior", torch.full((len(self.criterion.bin_centers),), 1.0 / len(self.criterion.bin_centers)))
        outputs = len(self.criterion.bin_centers) if target == "bins" else 2
        self.head = DenseColorHead(self.backbone.num_features, outputs, upsample, head_hidden_dim)

    def on_fit_start(self) -> None:
        data = getattr(self.trainer, "datamodule", None)
        for name in ("mean", "std"):
            want = getattr(data, name, None)
            mine = getattr(self, f"input_{name}").flatten().tolist()
            if want is not None and not torch.allclose(torch.tensor(mine), torch.tensor(want, dtype=torch.float32)):
                raise ValueError(f"Colorization: input_{name}={mine} but the DataModule normalises with {name}={list(want)}; "
                                 f"set model.init_args.input_{name} to the DataModule's {name}")

    # ------------------------------------------------------------------ colour spaces
    def lab(self, x: torch.Tensor, recolour: bool = False) -> torch.Tensor:
        """Lab ``(B, 3, H, W)`` of normalised inputs (recoloured when ``recolour`` and configured)."""
        rgb = (x.float() * self.input_std + self.input_mean).clamp(0, 1)
        if recolour and self.recolour == "orientation":
            return orientation_colours(rgb, *self.tint)
        if recolour and self.recolour == "polar":
            return polar_colours(rgb, self.tint[0])
        return rgb_to_lab(rgb)

    @staticmethod
    def lightness_input(L: torch.Tensor) -> torch.Tensor:
        """What the backbone sees: ``(L - 50) / 50`` repeated to 3 channels."""
        return ((L - 50) / 50).expand(-1, 3, -1, -1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return super().embed(self.lightness_input(self.lab(x)[:, :1]))

    def predict(self, L: torch.Tensor) -> torch.Tensor:
        """Head outputs ``(B, Q or 2, h * upsample, w * upsample)`` from lightness ``(B, 1, H, W)``."""
        tokens = self.backbone.forward_tokens(self.lightness_input(L))
        tokens = tokens[:, int(getattr(self.backbone, "num_prefix_tokens", 0) or 0):]
        h = round(math.sqrt(tokens.shape[1] * L.shape[-2] / L.shape[-1]))
        return self.head(tokens.transpose(1, 2).reshape(tokens.shape[0], -1, h, tokens.shape[1] // h))

    def decode(self, out: torch.Tensor) -> torch.Tensor:
        """ab ``(B, 2, h, w)`` from head outputs (annealed mean of the bins, or scaled regression)."""
        if self.target == "regression":
            return out * AB_SCALE
        p = torch.softmax(out.float() / self.temperature, dim=1)
        return torch.einsum("bqhw,qc->bchw", p, self.criterion.bin_centers)

    # ------------------------------------------------------------------ objective and previews
    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        lab = self.lab(views[0], recolour=True)
        out = self.predict(lab[:, :1])
        ab = F.adaptive_avg_pool2d(lab[:, 1:], out.shape[-2:])
        if self.target == "regression":
            return {"loss": F.mse_loss(out.float(), ab / AB_SCALE)}
        weights = None
        if self.rebalance < 1:
            self.update_prior(ab)
            weights = rebalancing_weights(self.prior, self.criterion.bin_centers, self.rebalance, self.sigma)
        return {"loss": self.criterion(out, ab, weights)}

    @torch.no_grad()
    def update_prior(self, ab: torch.Tensor) -> None:
        """Running average of the bin frequencies of the targets (averaged over processes)."""
        freq = self.criterion.encode(ab).mean(dim=(0, 2, 3))
        if world_size() > 1:
            dist.all_reduce(freq)
            freq /= world_size()
        self.prior.mul_(self.prior_momentum).add_(freq, alpha=1 - self.prior_momentum)

    @torch.no_grad()
    def preview_images(self, x: torch.Tensor) -> torch.Tensor:
        """The inputs coloured by the model: their L with the predicted ab, normalised like the inputs."""
        L = self.lab(x)[:, :1]
        ab = F.interpolate(self.decode(self.predict(L)), size=L.shape[-2:], mode="bilinear", align_corners=False)
        rgb = lab_to_rgb(torch.cat([L, ab], dim=1)).clamp(0, 1)
        return (rgb - self.input_mean) / self.input_std
