"""Losses of the generative family: the VAE's ELBO terms and the (non-saturating) GAN losses."""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` per latent dimension, ``(B, K)`` (Kingma & Welling 2014, App. B)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


class ELBOTerms(NamedTuple):
    """The two ELBO terms, each averaged over the batch and summed over dimensions.

    Attributes:
        nll: ``-E_q[log p(x|z)]`` (one sample of ``z``), in nats.
        kl: ``KL(q(z|x) || p(z))``, in nats.
        kl_objective: the KL term that is minimised: with free bits,
            ``sum_k max(free_bits, mean_batch KL_k)``; otherwise ``kl``.
    """

    nll: torch.Tensor
    kl: torch.Tensor
    kl_objective: torch.Tensor

    @property
    def elbo(self) -> torch.Tensor:
        """The evidence lower bound ``E_q[log p(x|z)] - KL`` (per example, batch mean)."""
        return -(self.nll + self.kl)


class ELBOLoss(nn.Module):
    """Negative log-likelihood and KL terms of a VAE with a standard normal prior
    (Kingma & Welling, 2014, "Auto-Encoding Variational Bayes", arXiv:1312.6114).

    Likelihoods: ``gaussian`` with a fixed standard deviation ``likelihood_std``
    (the full log density, constants included) on targets in any space, or
    ``bernoulli`` on targets in ``[0, 1]`` with the decoder's logits. Free bits
    (Kingma et al., 2016, arXiv:1606.04934): each latent dimension's
    batch-averaged KL counts at least ``free_bits`` nats in the objective, so
    the optimiser gains nothing by pushing it below (against posterior collapse).

    Args:
        likelihood: ``"gaussian"`` or ``"bernoulli"``.
        likelihood_std: standard deviation of the Gaussian likelihood.
        free_bits: minimum nats per latent dimension in the KL objective (0: off).
    """

    def __init__(self, likelihood: Literal["gaussian", "bernoulli"] = "gaussian", likelihood_std: float = 1.0,
                 free_bits: float = 0.0) -> None:
        super().__init__()
        if likelihood not in ("gaussian", "bernoulli"):
            raise ValueError(f"likelihood must be 'gaussian' or 'bernoulli', got {likelihood!r}")
        if likelihood_std <= 0 or free_bits < 0:
            raise ValueError(f"ELBOLoss needs likelihood_std > 0 and free_bits >= 0, got {likelihood_std}, {free_bits}")
        self.likelihood, self.likelihood_std, self.free_bits = likelihood, likelihood_std, free_bits

    def nll(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``-log p(x|z)`` per example ``(B,)``; ``out`` is the mean (Gaussian) or the logits (Bernoulli)."""
        if x.shape != out.shape:
            raise ValueError(f"targets and decoder outputs differ in shape: {tuple(x.shape)} vs {tuple(out.shape)}")
        if self.likelihood == "bernoulli":
            return F.binary_cross_entropy_with_logits(out, x, reduction="none").flatten(1).sum(1)
        s = self.likelihood_std
        per = 0.5 * ((x - out) / s).pow(2) + math.log(s) + 0.5 * math.log(2 * math.pi)
        return per.flatten(1).sum(1)

    def forward(self, x: torch.Tensor, out: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> ELBOTerms:
        """The terms for targets ``x``, decoder outputs ``out`` and the posterior ``N(mu, exp(logvar))``."""
        kl_dims = gaussian_kl(mu, logvar)
        kl = kl_dims.sum(1).mean()
        kl_objective = kl_dims.mean(0).clamp(min=self.free_bits).sum() if self.free_bits > 0 else kl
        return ELBOTerms(self.nll(x, out).mean(), kl, kl_objective)


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> torch.Tensor:
    """Latent dimensions in use (Burda et al., 2016, "Importance Weighted Autoencoders", arXiv:1509.00519):
    the number of dimensions ``k`` with ``Cov_x(E_q[z_k]) = Var_batch(mu_k) > threshold``, as a float scalar."""
    if mu.ndim != 2 or mu.shape[0] < 2:
        raise ValueError(f"active_units needs posterior means (B >= 2, K), got shape {tuple(mu.shape)}")
    return (mu.detach().var(0) > threshold).sum().float()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """GAN discriminator loss (Goodfellow et al., 2014, arXiv:1406.2661): binary cross-entropy with
    real labelled 1 and fake 0, ``-mean log D(real) - mean log(1 - D(fake))``."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``-mean log D(fake)`` (Goodfellow et al., 2014, Sec. 3)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def discriminator_accuracy(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Share of real examples scored real (logit > 0) and fake scored fake, over both sets."""
    right = torch.cat([(real_logits > 0), (fake_logits <= 0)]).float()
    return right.mean()
