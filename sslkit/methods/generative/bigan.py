"""BiGAN / ALI: an encoder learned adversarially with a joint (x, z) discriminator."""

from __future__ import annotations

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from sslkit.heads.generative import GANGenerator, JointDiscriminator
from sslkit.losses.generative import discriminator_accuracy, discriminator_loss, generator_loss
from sslkit.methods.base import SSLMethod, Stage
from sslkit.methods.generative.autoencoder import pixel_space


class BiGAN(SSLMethod):
    """BiGAN (Donahue et al., 2017, "Adversarial Feature Learning", arXiv:1605.09782), also
    ALI (Dumoulin et al., 2017, arXiv:1606.00704).

    An encoder ``E`` (the backbone, then a linear map to ``latent_dim``) and a
    generator ``G`` (as in :class:`DCGAN`) are trained against a discriminator
    ``D(x, z)`` on joint pairs: real ``(x, E(x))`` against fake ``(G(z), z)``. At the
    optimum ``E`` inverts ``G``. ``D`` reads images with a fresh copy of the
    backbone's architecture (its own weights) and embeds ``z`` with an MLP.
    Each batch: a discriminator step, then an encoder + generator step with
    the labels flipped (the non-saturating form). :meth:`embed` is the
    encoder's pooled backbone features (before the linear map to ``z``).
    Logged: ``discriminator_loss``, ``discriminator_acc``, ``generator_loss``.

    Optimizers: ``optimizer`` / ``lr_scheduler`` train encoder and generator,
    ``discriminator_optimizer`` / ``discriminator_lr_scheduler`` the discriminator
    (the paper: Adam, lr 2e-4, betas (0.5, 0.999), weight decay 2.5e-5).

    Args:
        latent_dim: size of ``z``.
        image_size: side of the images.
        in_chans: image channels.
        generator_widths: generator channels per resolution, 4x4 first.
        disc_hidden_dim: width of the discriminator's code embedding and joint MLP.
        disc_dropout: dropout in the discriminator (ALI: 0.2).
        discriminator_optimizer: builds the discriminator's optimizer.
        discriminator_lr_scheduler: optional scheduler of the discriminator's optimizer.
        pixel_mean: the DataModule's per-channel mean (bounded ``tanh`` output).
        pixel_std: the DataModule's per-channel std.
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    num_views = (1, 1)

    def __init__(self, latent_dim: int = 64, image_size: int = 32, in_chans: int = 3,
                 generator_widths: list[int] | None = None, disc_hidden_dim: int = 256, disc_dropout: float = 0.0,
                 discriminator_optimizer: OptimizerCallable = torch.optim.Adam,
                 discriminator_lr_scheduler: LRSchedulerCallable | None = None,
                 pixel_mean: list[float] | None = None, pixel_std: list[float] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.to_latent = nn.Linear(self.backbone.num_features, latent_dim)
        self.generator = GANGenerator(latent_dim, in_chans, image_size, generator_widths,
                                      pixel_space(pixel_mean, pixel_std, in_chans))
        self.discriminator = JointDiscriminator(self.build_backbone(), latent_dim, disc_hidden_dim, disc_dropout)
        self.discriminator_optimizer = discriminator_optimizer
        self.discriminator_lr_scheduler = discriminator_lr_scheduler

    def optimizer_stages(self) -> list[Stage]:
        return [Stage("discriminator", [self.discriminator], self.discriminator_optimizer,
                      self.discriminator_lr_scheduler),
                Stage("generator", [self.backbone, self.to_latent, self.generator], self.optimizer, self.lr_scheduler)]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``E(x)``, ``(B, latent_dim)``."""
        return self.to_latent(self.backbone(x))

    def training_loss(self, views: list[torch.Tensor], stage: str) -> dict[str, torch.Tensor]:
        x = views[0]
        z = torch.randn(x.shape[0], self.generator.latent_dim, device=x.device)
        if stage == "discriminator":
            with torch.no_grad():
                real_z, fake_x = self.encode(x), self.generator(z)
            real, fake = self.discriminator(x, real_z), self.discriminator(fake_x, z)
            return {"loss": discriminator_loss(real, fake), "acc": discriminator_accuracy(real.detach(), fake.detach())}
        real, fake = self.discriminator(x, self.encode(x)), self.discriminator(self.generator(z), z)
        return {"loss": generator_loss(-real) + generator_loss(fake)}  # labels flipped: real pairs called fake

    def preview_images(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstructions ``G(E(x))``, then as many samples from fixed codes."""
        z = torch.randn(x.shape[0], self.generator.latent_dim, generator=torch.Generator().manual_seed(0)).to(x)
        return self.generator(torch.cat([self.encode(x), z]))
