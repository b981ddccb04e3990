"""Barlow Twins."""

from __future__ import annotations

import torch

from sslkit.heads import BarlowTwinsProjectionHead
from sslkit.losses import BarlowTwinsLoss
from sslkit.methods.base import SSLMethod


class BarlowTwins(SSLMethod):
    """Barlow Twins (Zbontar et al., 2021, "Barlow Twins: Self-Supervised
    Learning via Redundancy Reduction", arXiv:2103.03230).

    Two views go through the backbone and a wide projector; the loss drives
    the cross-correlation of the two views' batch-standardised embeddings
    (computed on the global batch under DDP) towards the identity.

    Args:
        proj_hidden_dim: hidden width of the projector (8192 in the paper).
        proj_output_dim: embedding size (8192 in the paper).
        proj_layers: linear layers in the projector.
        lambda_offdiag: weight of the off-diagonal term (5.1e-3 in the paper).
        scale_loss: factor on the loss (1 in the paper, 0.1 in solo-learn's CIFAR recipe).
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    def __init__(self, proj_hidden_dim: int = 8192, proj_output_dim: int = 8192, proj_layers: int = 3,
                 lambda_offdiag: float = 5.1e-3, scale_loss: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.projector = BarlowTwinsProjectionHead(self.backbone.num_features, proj_hidden_dim, proj_output_dim, proj_layers)
        self.criterion = BarlowTwinsLoss(lambda_offdiag=lambda_offdiag, scale_loss=scale_loss)

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        n = views[0].shape[0]
        features = self.backbone(torch.cat(views))
        z = self.projector(features)
        return {"loss": self.criterion(z[:n], z[n:]), "features": features[:n]}
