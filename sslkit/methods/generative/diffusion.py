"""Diffusion pretraining: a DDPM denoiser whose encoder is the backbone (features as in DDAE)."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from sslkit.backbones.stages import backbone_stages, pool_features, stage_width
from sslkit.heads.generative import StageDecoder, TimestepEmbedding
from sslkit.methods.base import SSLMethod
from sslkit.utils.diffusion import NoiseSchedule


class DDPM(SSLMethod):
    """Denoising diffusion pretraining: DDPM (Ho et al., 2020, "Denoising Diffusion Probabilistic
    Models", arXiv:2006.11239) with features read as in DDAE (Xiang et al., 2023, "Denoising
    Diffusion Autoencoders are Unified Self-supervised Learners", arXiv:2303.09769).

    The denoiser is a U-Net made of the registry backbone (the encoder, e.g.
    ``tiny_cnn`` or a ResNet) and a light :class:`~sslkit.heads.StageDecoder`
    over its stage maps. It is conditioned on the timestep by adding a learned
    projection of a sinusoidal embedding to every stage's output channels
    (forward hooks, so any backbone with a stage layout works). Loss: the
    simple objective ``|| eps - eps_theta(sqrt(a_t) x + sqrt(1 - a_t) eps, t) ||^2``,
    ``t`` uniform, linear betas.

    :meth:`embed` noises the clean input to timestep ``embed_t`` with noise
    drawn from a fixed seed (the same for every call; ``embed_t=None``: the
    clean input, conditioned as ``t = 0``), runs the conditioned encoder and
    pools its last stage, or ``embed_stage`` (``embed_readout: encoder``); with
    ``embed_readout: decoder`` it runs the whole denoiser and average-pools the
    output of decoder block ``embed_decoder_block`` (counted in the order the
    blocks run: 0 at the deepest stage, -1 the last, at input resolution), the
    readout DDAE found best (a decoder block at a small t, e.g. t = 11 of 1000).
    The decoder readout is a method feature (probe, kNN, summary); an exported
    backbone is the encoder alone. ``benchmarks/diffusion_timesteps.py`` sweeps
    ``embed_t`` and both readouts on a checkpoint.

    Args:
        num_timesteps: ``T``.
        beta_start: first beta (paper: 1e-4).
        beta_end: last beta (paper: 0.02).
        in_chans: image channels.
        time_embed_dim: size of the timestep embedding.
        decoder_width: channels of the decoder.
        embed_t: timestep (index ``0 .. T - 1``) at which features are read; ``None``: clean input.
        embed_noise_seed: seed of the fixed noise used by :meth:`embed`.
        embed_readout: ``"encoder"`` (the backbone's pooled output or ``embed_stage``) or ``"decoder"``.
        embed_decoder_block: the decoder block read with ``embed_readout: decoder`` (run order).
        preview: ``"denoise"`` (noisy inputs at ``preview_t`` and the predicted clean images)
            or ``"sample"`` (ancestral sampling from noise, ``T`` denoiser calls).
        preview_t: timestep of the ``denoise`` preview.
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    num_views = (1, 1)

    def __init__(self, num_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02, in_chans: int = 3,
                 time_embed_dim: int = 128, decoder_width: int = 64, embed_t: int | None = 10,
                 embed_noise_seed: int = 0, embed_readout: Literal["encoder", "decoder"] = "encoder",
                 embed_decoder_block: int = -1, preview: Literal["denoise", "sample"] = "denoise", preview_t: int = 250,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        for name, t in (("embed_t", embed_t), ("preview_t", preview_t)):
            if t is not None and not 0 <= t < num_timesteps:
                raise ValueError(f"{name}={t} must be a timestep index in [0, {num_timesteps})")
        if preview not in ("denoise", "sample"):
            raise ValueError(f"preview must be 'denoise' or 'sample', got {preview!r}")
        self.schedule = NoiseSchedule(num_timesteps, beta_start, beta_end)
        widths = [stage_width(self.backbone, i) for i in range(len(backbone_stages(self.backbone)))]
        self.time_embed = TimestepEmbedding(time_embed_dim)
        self.time_proj = nn.ModuleList(nn.Linear(time_embed_dim, w) for w in widths)
        self.decoder = StageDecoder(widths, in_chans, decoder_width, time_embed_dim)
        self.embed_t, self.embed_noise_seed = embed_t, embed_noise_seed
        if embed_readout not in ("encoder", "decoder"):
            raise ValueError(f"embed_readout must be 'encoder' or 'decoder', got {embed_readout!r}")
        if embed_readout == "decoder":
            if self.embed_stage is not None:
                raise ValueError("embed_stage reads the encoder; drop it or use embed_readout: encoder")
            if not -len(widths) <= embed_decoder_block < len(widths):
                raise ValueError(f"embed_decoder_block={embed_decoder_block} must lie in [-{len(widths)}, "
                                 f"{len(widths)}) (the decoder has one block per backbone stage)")
        self.embed_readout, self.embed_decoder_block = embed_readout, embed_decoder_block
        self.decoder_width = decoder_width
        self.preview, self.preview_t = preview, preview_t
        self.preview_reconstructs = preview == "denoise"

    def encode(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """The backbone on ``x`` conditioned on ``t``: pooled output, every stage's map, the time embedding."""
        emb, maps, hooks = self.time_embed(t), [], []

        def add_time(proj: nn.Module):
            def hook(module: nn.Module, args: Any, out: torch.Tensor) -> torch.Tensor:
                bias = proj(emb)
                out = out + (bias[:, :, None, None] if out.ndim == 4 else bias[:, None, :])
                maps.append(out)
                return out
            return hook

        for (_, stage), proj in zip(backbone_stages(self.backbone), self.time_proj):
            hooks.append(stage.register_forward_hook(add_time(proj)))
        try:
            pooled = self.backbone(x)
        finally:
            for h in hooks:
                h.remove()
        return pooled, maps, emb

    def denoise(self, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The predicted noise ``eps_theta(x_t, t)``."""
        _, maps, emb = self.encode(xt, t)
        return self.decoder(maps, xt, emb)

    def fixed_noise(self, x: torch.Tensor) -> torch.Tensor:
        """Noise shaped like ``x`` from ``embed_noise_seed`` (identical on every call)."""
        return torch.randn(x.shape, generator=torch.Generator().manual_seed(self.embed_noise_seed)).to(x)

    @property
    def num_features(self) -> int:
        return self.decoder_width if self.embed_readout == "decoder" else super().num_features

    def embed(self, x: Any) -> torch.Tensor:
        t = torch.full((x.shape[0],), self.embed_t or 0, device=x.device, dtype=torch.long)
        xt = x if self.embed_t is None else self.schedule.q_sample(x, t, self.fixed_noise(x))
        if self.embed_readout == "decoder":
            blocks = self.decoder.blocks
            block = blocks[len(blocks) - 1 - self.embed_decoder_block % len(blocks)]  # the decoder runs them reversed
            out: list[torch.Tensor] = []
            hook = block.register_forward_hook(lambda _m, _a, o: out.append(o))
            try:
                self.denoise(xt, t)
            finally:
                hook.remove()
            return out[0].mean(dim=(2, 3))
        pooled, maps, _ = self.encode(xt, t)
        return pooled if self.embed_stage is None else pool_features(maps[self.embed_stage])

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        x = views[0]
        t = torch.randint(0, self.schedule.num_timesteps, (x.shape[0],), device=x.device)
        noise = torch.randn_like(x)
        return {"loss": F.mse_loss(self.denoise(self.schedule.q_sample(x, t, noise), t), noise)}

    @torch.no_grad()
    def sample(self, n: int, shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images of ``shape`` by ancestral sampling over all ``T`` steps (the paper's Algorithm 2)."""
        x = torch.randn((n, *shape), generator=generator).to(self.device)
        for step in reversed(range(self.schedule.num_timesteps)):
            t = torch.full((n,), step, device=self.device, dtype=torch.long)
            x = self.schedule.p_sample(x, step, self.denoise(x, t), generator)
        return x

    def preview_images(self, x: torch.Tensor) -> torch.Tensor:
        """``denoise``: noisy inputs at ``preview_t``, then the predicted ``x_0``; ``sample``: samples."""
        if self.preview == "sample":
            return self.sample(x.shape[0], tuple(x.shape[1:]), torch.Generator().manual_seed(0))
        t = torch.full((x.shape[0],), self.preview_t, device=x.device, dtype=torch.long)
        xt = self.schedule.q_sample(x, t, self.fixed_noise(x))
        return torch.cat([xt, self.schedule.predict_x0(xt, t, self.denoise(xt, t))])
