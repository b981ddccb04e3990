"""SimSiam."""

from __future__ import annotations

import torch

from sslkit.heads import SimSiamPredictionHead, SimSiamProjectionHead
from sslkit.losses import SimSiamLoss
from sslkit.methods.base import SSLMethod


class SimSiam(SSLMethod):
    """SimSiam (Chen & He, 2021, "Exploring Simple Siamese Representation
    Learning", arXiv:2011.10566).

    Two views go through the backbone and a projector; a bottleneck predictor
    maps each view's projection onto the other view's, which is held fixed by
    a stop-gradient. No negatives, no momentum encoder: the stop-gradient and
    the predictor keep the embeddings from collapsing.

    Args:
        proj_hidden_dim: hidden width of the projector.
        proj_output_dim: output size of the projector and of the predictor.
        proj_layers: linear layers in the projector (3 on ImageNet, 2 on CIFAR).
        pred_hidden_dim: bottleneck width of the predictor.
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    def __init__(self, proj_hidden_dim: int = 2048, proj_output_dim: int = 2048, proj_layers: int = 3,
                 pred_hidden_dim: int = 512, **kwargs) -> None:
        super().__init__(**kwargs)
        self.projector = SimSiamProjectionHead(self.backbone.num_features, proj_hidden_dim, proj_output_dim, proj_layers)
        self.predictor = SimSiamPredictionHead(proj_output_dim, pred_hidden_dim, proj_output_dim)
        self.criterion = SimSiamLoss()

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        n = views[0].shape[0]
        features = self.backbone(torch.cat(views))
        z = self.projector(features)
        p = self.predictor(z)
        return {"loss": self.criterion(p[:n], p[n:], z[:n], z[n:]), "features": features[:n]}
