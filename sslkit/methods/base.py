"""The base class of every self-supervised method."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from sslkit.backbones import create_backbone
from sslkit.utils.optim import optimizer_config, split_weight_decay


class SSLMethod(L.LightningModule):
    """A self-supervised method: a backbone, its heads and its loss.

    Subclasses build their heads in ``__init__`` and implement
    :meth:`training_loss`. Evaluation (online probe, kNN, collapse, summaries)
    lives in callbacks, which use only :meth:`embed`, ``num_classes`` and the
    step outputs documented below.

    Step outputs (the callback contract):

    * ``training_step`` returns ``{"loss", "features", "labels"}`` where
      ``features`` are detached backbone features ``(B, D)`` of the first view
      and ``labels`` the batch labels (``-1`` = unlabelled).
    * ``validation_step`` / ``test_step`` return ``{"features", "labels"}`` for
      clean inputs.

    Args:
        backbone: registry name, see :func:`sslkit.backbones.list_backbones`.
        backbone_kwargs: keyword arguments of the backbone builder.
        optimizer: callable building the optimizer from parameter groups.
        lr_scheduler: optional callable building the scheduler from the optimizer;
            :class:`~sslkit.utils.WarmupCosineLR` is stepped per optimizer step.
        num_classes: classes of the labelled data, for evaluation callbacks
            (linked from the DataModule by the CLI; 0 means unlabelled).
        exclude_norm_bias_decay: no weight decay (and no LARS adaptation) for
            biases and normalisation parameters.
    """

    def __init__(
        self,
        backbone: str = "tiny_cnn",
        backbone_kwargs: dict[str, Any] | None = None,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        lr_scheduler: LRSchedulerCallable | None = None,
        num_classes: int = 0,
        exclude_norm_bias_decay: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer", "lr_scheduler"])
        self.backbone_name = backbone
        self.backbone_kwargs = dict(backbone_kwargs or {})
        self.backbone = self.build_backbone()
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.num_classes = num_classes
        self.exclude_norm_bias_decay = exclude_norm_bias_decay

    @property
    def num_features(self) -> int:
        """Size of the features returned by :meth:`embed`."""
        return self.backbone.num_features

    def build_backbone(self) -> nn.Module:
        """A new backbone as configured, before any training (used for baselines)."""
        return create_backbone(self.backbone_name, **self.backbone_kwargs)

    def embed(self, x: Any) -> torch.Tensor:
        """Features used for evaluation and transfer: ``(B, D)``."""
        return self.backbone(x)

    @staticmethod
    def expect_two_views(views: list[torch.Tensor], method: str) -> None:
        """Raise a clear error unless the DataModule gives exactly two views per image."""
        if len(views) != 2:
            raise ValueError(f"{method} needs exactly 2 views per image, the DataModule gives {len(views)}")

    def training_loss(self, views: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute the loss of one batch of views.

        Returns:
            ``(loss, features)``: the scalar loss and the backbone features of the first view.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ Lightning hooks
    def training_step(self, batch: tuple[list[torch.Tensor], torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        views, labels = batch
        loss, features = self.training_loss(views)
        self.log("train/loss", loss, prog_bar=True, batch_size=labels.shape[0])
        return {"loss": loss, "features": features.detach(), "labels": labels}

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int, dataloader_idx: int = 0) -> dict:
        x, labels = batch
        return {"features": self.embed(x), "labels": labels}

    test_step = validation_step

    def configure_optimizers(self) -> Any:
        params = split_weight_decay(self) if self.exclude_norm_bias_decay else [p for p in self.parameters() if p.requires_grad]
        optimizer = self.optimizer(params)
        return optimizer_config(optimizer, self.lr_scheduler, self)
