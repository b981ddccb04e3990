"""VICReg."""

from __future__ import annotations

import torch

from sslkit.heads import VICRegProjectionHead
from sslkit.losses import VICRegLoss
from sslkit.methods.base import SSLMethod


class VICReg(SSLMethod):
    """VICReg (Bardes, Ponce & LeCun, 2022, "VICReg: Variance-Invariance-
    Covariance Regularization for Self-Supervised Learning", arXiv:2105.04906).

    Two views go through the backbone and an expander; the loss makes the
    views' embeddings agree (invariance) while keeping each dimension's std
    above ``gamma`` (variance) and the dimensions decorrelated (covariance),
    the last two on the global batch under DDP.

    Args:
        proj_hidden_dim: hidden width of the expander (8192 in the paper).
        proj_output_dim: embedding size (8192 in the paper).
        proj_layers: linear layers in the expander.
        sim_coeff: weight of the invariance term (25 in the paper).
        std_coeff: weight of the variance term (25 in the paper).
        cov_coeff: weight of the covariance term (1 in the paper).
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    def __init__(self, proj_hidden_dim: int = 8192, proj_output_dim: int = 8192, proj_layers: int = 3,
                 sim_coeff: float = 25.0, std_coeff: float = 25.0, cov_coeff: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.projector = VICRegProjectionHead(self.backbone.num_features, proj_hidden_dim, proj_output_dim, proj_layers)
        self.criterion = VICRegLoss(sim_coeff=sim_coeff, std_coeff=std_coeff, cov_coeff=cov_coeff)

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        n = views[0].shape[0]
        features = self.backbone(torch.cat(views))
        z = self.projector(features)
        return {"loss": self.criterion(z[:n], z[n:]), "features": features[:n]}
