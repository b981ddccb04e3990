"""SimCLR."""

from __future__ import annotations

import torch

from sslkit.heads import SimCLRProjectionHead
from sslkit.losses import NTXentLoss
from sslkit.methods.base import SSLMethod


class SimCLR(SSLMethod):
    """SimCLR (Chen et al., 2020, "A Simple Framework for Contrastive Learning
    of Visual Representations", arXiv:2002.05709).

    Two augmented views per image go through the backbone and an MLP
    projection head; NT-Xent pulls the two views of an image together and
    pushes apart all other images in the (global) batch.

    Args:
        proj_hidden_dim: hidden width of the projection head.
        proj_output_dim: output size of the projection head.
        proj_layers: linear layers in the projection head.
        temperature: NT-Xent temperature.
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    def __init__(self, proj_hidden_dim: int = 2048, proj_output_dim: int = 128, proj_layers: int = 2,
                 temperature: float = 0.5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.projector = SimCLRProjectionHead(self.backbone.num_features, proj_hidden_dim, proj_output_dim, proj_layers)
        self.criterion = NTXentLoss(temperature=temperature)

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        n = views[0].shape[0]
        features = self.backbone(torch.cat(views))  # one pass: BatchNorm sees both views
        z = self.projector(features)
        return {"loss": self.criterion(z[:n], z[n:]), "features": features[:n]}
