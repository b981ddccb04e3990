"""BYOL."""

from __future__ import annotations

import torch
from torch import nn

from sslkit.heads import BYOLPredictionHead, BYOLProjectionHead
from sslkit.losses import BYOLLoss
from sslkit.methods.base import SSLMethod
from sslkit.utils.momentum import MomentumEncoder


class BYOL(SSLMethod):
    """BYOL (Grill et al., 2020, "Bootstrap Your Own Latent: A New Approach to
    Self-Supervised Learning", arXiv:2006.07733).

    An online network (backbone, projector, predictor) regresses the projection
    that a momentum (EMA) copy of backbone and projector gives for the other
    view, with the normalised MSE ``2 - 2 cos``, summed over both view orders.
    The target is updated after each optimizer step, its decay rate following a
    cosine schedule from ``base_tau`` to ``final_tau``.

    With ``predictor=False`` the online projection itself is compared with the
    target projection: the plain squared distance between L2-normalised online
    and target embeddings, the simplest target-encoder objective (the BYOL
    paper reports that it collapses without a predictor; kept for ablations).
    :meth:`embed` uses the online backbone.

    Args:
        proj_hidden_dim: hidden width of projector and predictor.
        proj_output_dim: embedding size.
        pred_hidden_dim: hidden width of the predictor.
        predictor: use the prediction MLP (BYOL); ``False`` gives the plain EMA-target regression.
        base_tau: target decay rate at the start.
        final_tau: target decay rate at the end.
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    def __init__(self, proj_hidden_dim: int = 4096, proj_output_dim: int = 256, pred_hidden_dim: int = 4096,
                 predictor: bool = True, base_tau: float = 0.99, final_tau: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.projector = BYOLProjectionHead(self.backbone.num_features, proj_hidden_dim, proj_output_dim)
        self.predictor = BYOLPredictionHead(proj_output_dim, pred_hidden_dim, proj_output_dim) if predictor else nn.Identity()
        self.target = MomentumEncoder(self.backbone, self.projector, base_tau=base_tau, final_tau=final_tau)
        self.criterion = BYOLLoss()

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        n = views[0].shape[0]
        x = torch.cat(views)
        features = self.backbone(x)
        p = self.predictor(self.projector(features))
        z = self.target(x)
        loss = self.criterion(p[:n], z[n:]) + self.criterion(p[n:], z[:n])
        return {"loss": loss, "features": features[:n]}

