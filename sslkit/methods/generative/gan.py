"""DCGAN, with the discriminator's trunk as the feature extractor."""

from __future__ import annotations

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from sslkit.heads.generative import GANGenerator
from sslkit.losses.generative import discriminator_accuracy, discriminator_loss, generator_loss
from sslkit.methods.base import SSLMethod, Stage
from sslkit.methods.generative.autoencoder import pixel_space


class DCGAN(SSLMethod):
    """DCGAN (Radford et al., 2016, "Unsupervised Representation Learning with Deep
    Convolutional Generative Adversarial Networks", arXiv:1511.06434).

    The discriminator is the backbone (its trunk) plus a linear real/fake head;
    the generator maps ``z ~ N(0, I)`` through transposed convolutions (BatchNorm,
    ReLU, ``tanh`` output when ``pixel_mean`` / ``pixel_std`` are given). Each batch
    takes a discriminator step (binary cross-entropy, real = 1, fake = 0), then a
    generator step (non-saturating loss). :meth:`embed` is the discriminator's
    pooled trunk features (``embed_stage`` reads an earlier stage, as the paper
    used several layers). Logged: ``discriminator_loss``, ``discriminator_acc``
    (real and fake scored right), ``generator_loss``.

    Optimizers: ``optimizer`` / ``lr_scheduler`` train the generator,
    ``discriminator_optimizer`` / ``discriminator_lr_scheduler`` the discriminator
    (backbone and head). The paper: Adam, lr 2e-4, betas (0.5, 0.999), for both.

    Args:
        latent_dim: size of ``z``.
        image_size: side of the images.
        in_chans: image channels.
        generator_widths: generator channels per resolution, 4x4 first (default: 256 halving).
        discriminator_optimizer: builds the discriminator's optimizer.
        discriminator_lr_scheduler: optional scheduler of the discriminator's optimizer.
        pixel_mean: the DataModule's per-channel mean (bounded ``tanh`` output).
        pixel_std: the DataModule's per-channel std.
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    num_views = (1, 1)
    preview_reconstructs = False

    def __init__(self, latent_dim: int = 100, image_size: int = 32, in_chans: int = 3,
                 generator_widths: list[int] | None = None,
                 discriminator_optimizer: OptimizerCallable = torch.optim.Adam,
                 discriminator_lr_scheduler: LRSchedulerCallable | None = None,
                 pixel_mean: list[float] | None = None, pixel_std: list[float] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.head = nn.Linear(self.backbone.num_features, 1)
        self.generator = GANGenerator(latent_dim, in_chans, image_size, generator_widths,
                                      pixel_space(pixel_mean, pixel_std, in_chans))
        self.discriminator_optimizer = discriminator_optimizer
        self.discriminator_lr_scheduler = discriminator_lr_scheduler

    def optimizer_stages(self) -> list[Stage]:
        return [Stage("discriminator", [self.backbone, self.head], self.discriminator_optimizer,
                      self.discriminator_lr_scheduler),
                Stage("generator", [self.generator], self.optimizer, self.lr_scheduler)]

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        """Real/fake logits ``(B,)``."""
        return self.head(self.backbone(x)).squeeze(1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` generated images."""
        z = torch.randn(n, self.generator.latent_dim, generator=generator)
        return self.generator(z.to(self.device))

    def training_loss(self, views: list[torch.Tensor], stage: str) -> dict[str, torch.Tensor]:
        x = views[0]
        if stage == "discriminator":
            with torch.no_grad():
                fake = self.sample(x.shape[0])
            real_logits, fake_logits = self.discriminate(x), self.discriminate(fake)
            return {"loss": discriminator_loss(real_logits, fake_logits),
                    "acc": discriminator_accuracy(real_logits.detach(), fake_logits.detach())}
        return {"loss": generator_loss(self.discriminate(self.sample(x.shape[0])))}

    def preview_images(self, x: torch.Tensor) -> torch.Tensor:
        """``len(x)`` samples from a fixed set of latent codes."""
        return self.sample(x.shape[0], torch.Generator().manual_seed(0))
