"""MoCo v2."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sslkit.heads import MoCoV2ProjectionHead
from sslkit.losses import MoCoV2Loss
from sslkit.methods.base import SSLMethod
from sslkit.utils.momentum import MomentumEncoder
from sslkit.utils.queue import FeatureQueue


class MoCoV2(SSLMethod):
    """MoCo v2 (He et al., 2020, arXiv:1911.05722; Chen et al., 2020, "Improved
    Baselines with Momentum Contrastive Learning", arXiv:2003.04297).

    Queries come from the online backbone and MLP head, keys from their momentum
    copy; InfoNCE contrasts each query with its key and a FIFO queue of past
    keys. Symmetrised over both views (as in solo-learn's "MoCo v2+"); the
    keys of both views are enqueued. BatchNorm is not shuffled across
    processes. :meth:`embed` uses the online backbone.

    Args:
        proj_hidden_dim: hidden width of the MLP head.
        proj_output_dim: key / query size.
        queue_size: number of negatives kept.
        temperature: InfoNCE temperature.
        base_tau: key-encoder decay rate at the start.
        final_tau: key-encoder decay rate at the end.
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    def __init__(self, proj_hidden_dim: int = 2048, proj_output_dim: int = 128, queue_size: int = 65536,
                 temperature: float = 0.2, base_tau: float = 0.99, final_tau: float = 0.999, **kwargs) -> None:
        super().__init__(**kwargs)
        self.projector = MoCoV2ProjectionHead(self.backbone.num_features, proj_hidden_dim, proj_output_dim)
        self.target = MomentumEncoder(self.backbone, self.projector, base_tau=base_tau, final_tau=final_tau)
        self.queue = FeatureQueue(queue_size, proj_output_dim)
        self.criterion = MoCoV2Loss(temperature)

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        n = views[0].shape[0]
        x = torch.cat(views)
        features = self.backbone(x)
        q = self.projector(features)
        k = F.normalize(self.target(x), dim=1)
        negatives = self.queue()
        loss = 0.5 * (self.criterion(q[:n], k[n:], negatives) + self.criterion(q[n:], k[:n], negatives))
        self.queue.enqueue(k)
        return {"loss": loss, "features": features[:n]}

