"""A method of your own: predict which of four flips was applied to an image (a RotNet-style pretext task).

Lives in your project, not in sslkit; a recipe names it as ``class_path: my_flip.FlipPrediction``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sslkit.heads import ProjectionHead
from sslkit.methods import SSLMethod

FLIPS = ((), (-1,), (-2,), (-2, -1))  # none, horizontal, vertical, both


def flip_batch(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image under all four flips, and the index of the flip as its label."""
    images = torch.cat([x.flip(dims) if dims else x for dims in FLIPS])
    labels = torch.arange(len(FLIPS), device=x.device).repeat_interleave(x.shape[0])
    return images, labels


class FlipPrediction(SSLMethod):
    """Predict which of four flips was applied to an image (like RotNet, Gidaris et al., 2018, with flips).

    Args:
        hidden_dim: hidden width of the classification head.
        label_smoothing: label smoothing of the cross-entropy.
        **kwargs: see SSLMethod (backbone, optimizer, lr_scheduler, embed_stage, ...).
    """

    num_views = (1, 1)  # one augmented view per image

    def __init__(self, hidden_dim: int = 128, label_smoothing: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        d = self.backbone.num_features
        self.head = ProjectionHead([(d, hidden_dim, nn.BatchNorm1d(hidden_dim), nn.ReLU()), (hidden_dim, 4, None, None)])
        self.label_smoothing = label_smoothing

    def training_loss(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        images, labels = flip_batch(views[0])
        logits = self.head(self.backbone(images))
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        accuracy = (logits.argmax(1) == labels).float().mean()
        return {"loss": loss, "flip_acc": accuracy}  # logged as train/loss and train/flip_acc
