"""SwAV with multi-crop."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sslkit.heads import SwAVProjectionHead, SwAVPrototypes
from sslkit.losses import SwAVLoss
from sslkit.methods.base import SSLMethod
from sslkit.utils.multicrop import multicrop_forward


class SwAV(SSLMethod):
    """SwAV (Caron et al., 2020, "Unsupervised Learning of Visual Features by
    Contrasting Cluster Assignments", arXiv:2006.09882).

    Every crop is embedded (backbone, projector, L2 normalisation) and scored
    against learnable unit-norm prototypes. The Sinkhorn-Knopp codes of each
    global crop (equipartitioned over the global batch) are predicted from
    every other crop. Multi-crop: the first ``num_global_views`` views are the
    global crops; further views are local crops, usually smaller (configure a
    second :class:`~sslkit.transforms.ViewAugment` with a smaller ``size``).
    Crops of one resolution share a backbone pass. The prototypes are frozen
    for the first ``freeze_prototypes_epochs`` epochs.

    Args:
        proj_hidden_dim: hidden width of the projector (2048 in the paper).
        proj_output_dim: embedding size (128 in the paper).
        num_prototypes: number of prototypes (3000 on ImageNet).
        temperature: softmax temperature of the predictions (0.1).
        sinkhorn_epsilon: Sinkhorn-Knopp regularisation (0.05).
        sinkhorn_iterations: Sinkhorn-Knopp iterations (3).
        freeze_prototypes_epochs: epochs during which the prototypes are not updated.
        num_global_views: how many leading views are global crops (2).
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    def __init__(self, proj_hidden_dim: int = 2048, proj_output_dim: int = 128, num_prototypes: int = 3000,
                 temperature: float = 0.1, sinkhorn_epsilon: float = 0.05, sinkhorn_iterations: int = 3,
                 freeze_prototypes_epochs: int = 1, num_global_views: int = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        if num_global_views < 2 or freeze_prototypes_epochs < 0:
            raise ValueError("SwAV needs num_global_views >= 2 and freeze_prototypes_epochs >= 0")
        self.projector = SwAVProjectionHead(self.backbone.num_features, proj_hidden_dim, proj_output_dim)
        self.prototypes = SwAVPrototypes(proj_output_dim, num_prototypes)
        self.criterion = SwAVLoss(temperature, sinkhorn_epsilon, sinkhorn_iterations)
        self.freeze_prototypes_epochs = freeze_prototypes_epochs
        self.num_global_views = num_global_views
        self.num_views = (num_global_views, None)

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        n = views[0].shape[0]
        self.prototypes.normalize()
        # only global-crop passes update BatchNorm statistics: evaluation images look like global crops
        features = torch.cat([f for _, f in multicrop_forward(self.backbone, views, self.num_global_views)])
        scores = self.prototypes(F.normalize(self.projector(features), dim=1)).chunk(len(views))
        g = self.num_global_views
        return {"loss": self.criterion(scores[:g], scores[g:]), "features": features[:n]}

    def on_after_backward(self) -> None:
        if self.current_epoch < self.freeze_prototypes_epochs:
            self.prototypes.freeze_grad()
