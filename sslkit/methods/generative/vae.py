"""Variational autoencoder."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from sslkit.losses.generative import ELBOLoss, active_units
from sslkit.methods.base import SSLMethod
from sslkit.methods.generative.autoencoder import DecoderKind, build_decoder, pixel_space, resolve_image_size


class VAE(SSLMethod):
    """Variational autoencoder (Kingma & Welling, 2014, "Auto-Encoding Variational Bayes",
    arXiv:1312.6114).

    The backbone's pooled features give the posterior ``q(z|x) = N(mu, diag(exp(logvar)))``
    through one linear layer; ``z = mu + exp(logvar / 2) * eps`` (reparameterisation)
    is decoded (mirrored MLP or transposed-conv decoder, as in :class:`Autoencoder`).
    The loss is the negative ELBO ``nll + beta(step) * KL`` with a Gaussian
    (fixed ``likelihood_std``, on normalised images) or Bernoulli (logits against
    pixels in ``[0, 1]``; needs ``pixel_mean`` / ``pixel_std``) likelihood.

    Against posterior collapse: ``beta`` rises linearly from 0 to ``kl_weight``
    over ``kl_warmup_steps`` optimizer steps (KL warm-up), and ``free_bits`` nats
    per latent dimension are free in the KL objective. Logged: ``recon`` (nll),
    ``kl`` (the true KL, before free bits), ``elbo``, ``kl_weight`` and
    ``active_units``: latent dimensions whose posterior mean varies over the
    batch, ``Var_x(mu) > active_threshold`` (Burda et al., 2016, arXiv:1509.00519).

    :meth:`embed` is the posterior mean ``mu`` (``embed_mean``) unless ``embed_stage``
    selects a backbone stage; ``embed_mean=False`` gives the backbone's pooled features.

    Args:
        latent_dim: size of ``z``.
        image_size: side of the images (default: the MLP backbone's ``input_size``).
        in_chans: image channels.
        decoder: ``"auto"``, ``"mlp"`` or ``"conv"`` (see :class:`Autoencoder`).
        decoder_widths: hidden widths / channels of the decoder.
        likelihood: ``"gaussian"`` or ``"bernoulli"``.
        likelihood_std: standard deviation of the Gaussian likelihood (normalised units).
        kl_weight: final weight ``beta`` of the KL term (1 = the ELBO).
        kl_warmup_steps: optimizer steps of the linear KL warm-up (0: off).
        free_bits: nats per latent dimension not penalised (0: off).
        embed_mean: evaluate the posterior mean instead of the backbone features.
        active_threshold: variance threshold of an active unit.
        pixel_mean: the DataModule's per-channel mean (Bernoulli likelihood).
        pixel_std: the DataModule's per-channel std (Bernoulli likelihood).
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    num_views = (1, 1)

    def __init__(self, latent_dim: int = 16, image_size: int | None = None, in_chans: int = 3,
                 decoder: DecoderKind = "auto", decoder_widths: list[int] | None = None,
                 likelihood: Literal["gaussian", "bernoulli"] = "gaussian", likelihood_std: float = 1.0,
                 kl_weight: float = 1.0, kl_warmup_steps: int = 0, free_bits: float = 0.0, embed_mean: bool = True,
                 active_threshold: float = 0.01, pixel_mean: list[float] | None = None,
                 pixel_std: list[float] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if latent_dim < 1 or kl_weight < 0 or kl_warmup_steps < 0 or active_threshold <= 0:
            raise ValueError("VAE needs latent_dim >= 1, kl_weight >= 0, kl_warmup_steps >= 0, active_threshold > 0")
        self.latent_dim, self.kl_weight, self.kl_warmup_steps = latent_dim, kl_weight, kl_warmup_steps
        self.embed_mean, self.active_threshold, self.likelihood = embed_mean, active_threshold, likelihood
        self.image_size = resolve_image_size(self.backbone, image_size)
        self.pixels = pixel_space(pixel_mean, pixel_std, in_chans,
                                  "likelihood='bernoulli'" if likelihood == "bernoulli" else "")
        self.posterior = nn.Linear(self.backbone.num_features, 2 * latent_dim)
        self.decoder = build_decoder(self.backbone, latent_dim, decoder, self.image_size, in_chans, decoder_widths)
        self.criterion = ELBOLoss(likelihood, likelihood_std, free_bits)

    @property
    def num_features(self) -> int:
        return self.latent_dim if self.embed_mean and self.embed_stage is None else super().num_features

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance, each ``(B, latent_dim)``."""
        mu, logvar = self.posterior(self.backbone(x)).chunk(2, dim=1)
        return mu, logvar

    def embed(self, x: Any) -> torch.Tensor:
        return self.encode(x)[0] if self.embed_mean and self.embed_stage is None else super().embed(x)

    def current_kl_weight(self) -> float:
        """``beta`` at the current optimizer step (after the linear warm-up, ``kl_weight``)."""
        if self.kl_warmup_steps == 0:
            return self.kl_weight
        return self.kl_weight * min(1.0, self.global_step / self.kl_warmup_steps)

    def to_images(self, out: torch.Tensor) -> torch.Tensor:
        """Decoder outputs (means or logits) as images in the normalised space."""
        return self.pixels.from_unit(torch.sigmoid(out)) if self.likelihood == "bernoulli" else out

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        x = views[0]
        mu, logvar = self.encode(x)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
        target = self.pixels.to_unit(x).clamp(0, 1) if self.likelihood == "bernoulli" else x
        terms = self.criterion(target, self.decoder(z), mu, logvar)
        beta = self.current_kl_weight()
        return {"loss": terms.nll + beta * terms.kl_objective, "recon": terms.nll.detach(), "kl": terms.kl.detach(),
                "elbo": terms.elbo.detach(), "kl_weight": torch.tensor(beta),
                "active_units": active_units(mu, self.active_threshold)}

    def preview_images(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstructions from the posterior means, then as many samples from the prior (fixed seed)."""
        z = torch.randn(x.shape[0], self.latent_dim, generator=torch.Generator().manual_seed(0)).to(x)
        return self.to_images(self.decoder(torch.cat([self.encode(x)[0], z])))
