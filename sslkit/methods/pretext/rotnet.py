"""RotNet: predict which of four rotations was applied."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sslkit.heads.pretext import PretextClassifier
from sslkit.methods.base import SSLMethod


def rotate_all(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All four rotations of every image: ``(4B, C, H, W)`` and labels ``(4B,)``.

    Block ``k`` (rows ``k*B .. (k+1)*B - 1``) is ``x`` rotated by ``k * 90``
    degrees counter-clockwise (``torch.rot90(x, k, dims=(2, 3))``), label ``k``;
    ``torch.rot90(rotated, -k, dims=(2, 3))`` recovers the image.
    """
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"rotation needs square images (the four rotations share one batch), got {tuple(x.shape)}")
    rotated = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)])
    labels = torch.arange(4, device=x.device).repeat_interleave(x.shape[0])
    return rotated, labels


class RotNet(SSLMethod):
    """RotNet (Gidaris, Singh and Komodakis, 2018, "Unsupervised Representation
    Learning by Predicting Image Rotations", arXiv:1803.07728).

    Every image of the batch appears in all four rotations (0, 90, 180, 270
    degrees) in the same batch (the paper's best variant); a classifier on the
    backbone's pooled features predicts the rotation (cross-entropy over 4
    classes). Logs ``train/loss`` and ``train/acc`` (rotation accuracy).
    Several views per image are all rotated. Features are often best
    mid-network (the paper's best is conv block 2): set ``embed_stage``.

    Args:
        head_hidden_dim: hidden width of the rotation classifier (0: linear).
        **kwargs: see :class:`~sslkit.methods.base.SSLMethod`.
    """

    num_views = (1, None)

    def __init__(self, head_hidden_dim: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.head = PretextClassifier(self.backbone.num_features, head_hidden_dim, 4)

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        rotated, labels = rotate_all(torch.cat(views))
        features = self.backbone(rotated)
        logits = self.head(features)
        acc = (logits.detach().argmax(dim=1) == labels).float().mean()
        return {"loss": F.cross_entropy(logits, labels), "acc": acc, "features": features[: views[0].shape[0]]}
