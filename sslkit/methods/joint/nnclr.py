"""NNCLR."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sslkit.heads import NNCLRPredictionHead, NNCLRProjectionHead
from sslkit.losses import NNCLRLoss
from sslkit.methods.base import SSLMethod
from sslkit.utils.queue import FeatureQueue


class NNCLR(SSLMethod):
    """NNCLR (Dwibedi et al., 2021, "With a Little Help from My Friends:
    Nearest-Neighbor Contrastive Learning of Visual Representations",
    arXiv:2104.14548).

    Like SimCLR with a predictor, except that the positive of each prediction
    is the nearest neighbour of the other view's projection in a support set
    (a FIFO queue of past projections of the first view). No momentum encoder.

    Args:
        proj_hidden_dim: hidden width of the projector.
        proj_output_dim: embedding size.
        pred_hidden_dim: hidden width of the predictor.
        queue_size: size of the support set.
        temperature: NT-Xent temperature.
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    def __init__(self, proj_hidden_dim: int = 2048, proj_output_dim: int = 256, pred_hidden_dim: int = 4096,
                 queue_size: int = 98304, temperature: float = 0.1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.projector = NNCLRProjectionHead(self.backbone.num_features, proj_hidden_dim, proj_output_dim)
        self.predictor = NNCLRPredictionHead(proj_output_dim, pred_hidden_dim, proj_output_dim)
        self.support = FeatureQueue(queue_size, proj_output_dim)
        self.criterion = NNCLRLoss(temperature)

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        n = views[0].shape[0]
        features = self.backbone(torch.cat(views))
        z = self.projector(features)
        p = self.predictor(z)
        loss = self.criterion(z[:n], z[n:], p[:n], p[n:], self.support.features)
        self.support.enqueue(F.normalize(z[:n].detach(), dim=1))
        return {"loss": loss, "features": features[:n]}
