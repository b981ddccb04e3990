"""MoCo v3."""

from __future__ import annotations

import torch

from sslkit.heads import MoCoV3PredictionHead, MoCoV3ProjectionHead
from sslkit.losses import MoCoV3Loss
from sslkit.methods.base import SSLMethod
from sslkit.utils.momentum import MomentumEncoder


class MoCoV3(SSLMethod):
    """MoCo v3 (Chen, Xie and He, 2021, "An Empirical Study of Training
    Self-Supervised Vision Transformers", arXiv:2104.02057).

    Online backbone + projector + predictor give queries, the momentum copy of
    backbone + projector gives keys; the contrastive loss uses the other keys of
    the (global) batch as negatives, scaled by ``2 * temperature``, summed over
    both view orders. No queue. :meth:`embed` uses the online backbone.

    Args:
        proj_hidden_dim: hidden width of the projector.
        proj_output_dim: key / query size.
        proj_layers: linear layers of the projector (3 in the paper).
        pred_hidden_dim: hidden width of the predictor.
        temperature: softmax temperature.
        base_tau: key-encoder decay rate at the start.
        final_tau: key-encoder decay rate at the end.
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    def __init__(self, proj_hidden_dim: int = 4096, proj_output_dim: int = 256, proj_layers: int = 3,
                 pred_hidden_dim: int = 4096, temperature: float = 0.2, base_tau: float = 0.99,
                 final_tau: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.projector = MoCoV3ProjectionHead(self.backbone.num_features, proj_hidden_dim, proj_output_dim, proj_layers)
        self.predictor = MoCoV3PredictionHead(proj_output_dim, pred_hidden_dim, proj_output_dim)
        self.target = MomentumEncoder(self.backbone, self.projector, base_tau=base_tau, final_tau=final_tau)
        self.criterion = MoCoV3Loss(temperature)

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        n = views[0].shape[0]
        x = torch.cat(views)
        features = self.backbone(x)
        q = self.predictor(self.projector(features))
        k = self.target(x)
        return {"loss": self.criterion(q[:n], k[n:]) + self.criterion(q[n:], k[:n]), "features": features[:n]}

