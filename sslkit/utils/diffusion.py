"""The DDPM forward (noising) process and one reverse step, for diffusion pretraining."""

from __future__ import annotations

import torch
from torch import nn


class NoiseSchedule(nn.Module):
    """Linear-beta DDPM schedule (Ho et al., 2020, "Denoising Diffusion Probabilistic Models", arXiv:2006.11239).

    Timesteps are indices ``0 .. num_timesteps - 1`` (the paper's ``t = 1 .. T``);
    ``alpha_bar[t] = prod_{s <= t} (1 - beta_s)``. The buffers are not saved in
    checkpoints: they follow from the arguments.

    Args:
        num_timesteps: ``T``.
        beta_start: ``beta_1`` (paper: 1e-4).
        beta_end: ``beta_T`` (paper: 0.02).
    """

    def __init__(self, num_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> None:
        super().__init__()
        if num_timesteps < 1 or not 0 < beta_start <= beta_end < 1:
            raise ValueError(f"NoiseSchedule needs num_timesteps >= 1 and 0 < beta_start <= beta_end < 1, got "
                             f"{num_timesteps}, {beta_start}, {beta_end}")
        self.num_timesteps = num_timesteps
        betas = torch.linspace(beta_start, beta_end, num_timesteps, dtype=torch.float64)
        self.register_buffer("betas", betas.float(), persistent=False)
        self.register_buffer("alpha_bar", torch.cumprod(1 - betas, 0).float(), persistent=False)

    def _at(self, values: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return values[t].view(-1, 1, 1, 1)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise`` (the paper's eq. 4)."""
        a = self._at(self.alpha_bar, t)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def predict_x0(self, xt: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """The clean image implied by a noise prediction (``q_sample`` solved for ``x_0``)."""
        a = self._at(self.alpha_bar, t)
        return (xt - (1 - a).sqrt() * eps) / a.sqrt()

    def p_sample(self, xt: torch.Tensor, t: int, eps: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """One ancestral step ``x_t -> x_{t-1}`` with ``sigma_t^2 = beta_t`` (the paper's Algorithm 2)."""
        beta, a = self.betas[t], self.alpha_bar[t]
        mean = (xt - beta / (1 - a).sqrt() * eps) / (1 - beta).sqrt()
        if t == 0:
            return mean
        z = torch.randn(xt.shape, generator=generator, device=xt.device if generator is None else "cpu").to(xt)
        return mean + beta.sqrt() * z
