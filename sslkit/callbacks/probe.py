"""Online evaluation during pretraining: a linear probe and a kNN monitor."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from sslkit.data.base import BANK_LOADER, VAL_LOADER
from sslkit.metrics import KNNAccuracy
from sslkit.utils.distributed import gather_with_grad


def _num_classes(pl_module: L.LightningModule, who: str) -> int:
    n = int(getattr(pl_module, "num_classes", 0) or 0)
    if n < 2:
        rank_zero_warn(f"{who} is off: the model has num_classes={n} (unlabelled data); it logs nothing.")
    return n


class OnlineLinearProbe(L.Callback):
    """Trains a linear classifier on detached backbone features during pretraining.

    Every training batch, the features of the first view (the ``features`` of
    the method's step output) are gathered from all processes and the probe
    takes one step on the labelled ones (label ``-1`` is skipped) with its own
    Adam optimizer, in float32 whatever the trainer's precision. So every
    process holds the same probe. It never back-propagates into the backbone.
    Validation top-1 on the ``val`` loader is logged as ``probe/linear_acc``.
    The probe and its optimizer are saved in checkpoints and restored on resume.

    Args:
        lr: probe learning rate.
        weight_decay: probe weight decay.
    """

    def __init__(self, lr: float = 1e-3, weight_decay: float = 0.0) -> None:
        if lr <= 0 or weight_decay < 0:
            raise ValueError("OnlineLinearProbe needs lr > 0 and weight_decay >= 0")
        self.lr, self.weight_decay = lr, weight_decay
        self.probe: nn.Linear | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.accuracy: MulticlassAccuracy | None = None
        self._pending: dict | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        n = _num_classes(pl_module, "OnlineLinearProbe") if self.probe is None else self.probe.out_features
        if n < 2 or self.probe is not None:
            return
        self.probe = nn.Linear(pl_module.num_features, n)
        self.optimizer = torch.optim.Adam(self.probe.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        self.accuracy = MulticlassAccuracy(num_classes=n, average="micro")

    def _to_device(self, device: torch.device) -> None:
        self.probe.to(device)
        self.accuracy.to(device)
        if self._pending is not None:  # restored state waits until the probe sits on its device
            self.probe.load_state_dict(self._pending["probe"])
            self.optimizer.load_state_dict(self._pending["optimizer"])
            self._pending = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.probe is not None:
            self._to_device(pl_module.device)

    on_validation_start = on_test_start = on_fit_start

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.probe is None or not isinstance(outputs, dict) or "features" not in outputs:
            return
        feats, labels = gather_with_grad(outputs["features"].detach()), gather_with_grad(outputs["labels"])
        keep = labels >= 0
        if not keep.any():
            return
        with torch.enable_grad(), torch.autocast(device_type=feats.device.type, enabled=False):
            loss = F.cross_entropy(self.probe(feats[keep].float()), labels[keep])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        pl_module.log("probe/train_loss", loss.detach(), batch_size=int(keep.sum()))

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if self.probe is None or trainer.sanity_checking or dataloader_idx != VAL_LOADER:
            return
        with torch.no_grad(), torch.autocast(device_type=pl_module.device.type, enabled=False):
            logits = self.probe(outputs["features"].float())
        keep = outputs["labels"] >= 0
        self.accuracy.update(logits[keep], outputs["labels"][keep])

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.probe is None or trainer.sanity_checking:
            return
        # computed over every process's samples already: the same value on every rank (sync_dist keeps it so)
        pl_module.log("probe/linear_acc", self.accuracy.compute(), add_dataloader_idx=False, sync_dist=True)
        self.accuracy.reset()

    def state_dict(self) -> dict[str, Any]:
        if self.probe is None:
            return {}
        return {"probe": self.probe.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict:
            self._pending = state_dict


class KNNMonitor(L.Callback):
    """Logs weighted kNN top-1 accuracy (``knn/acc``) of frozen features every validation.

    The bank is the clean labelled training images of the ``bank`` validation
    loader (capped at ``max_bank``), the queries the ``val`` loader; both are
    gathered across processes before classification.

    Args:
        k: neighbours.
        temperature: vote temperature.
        max_bank: cap on bank features held per process.
    """

    def __init__(self, k: int = 20, temperature: float = 0.07, max_bank: int = 20000) -> None:
        if k < 1 or temperature <= 0 or max_bank < 1:
            raise ValueError("KNNMonitor needs k >= 1, temperature > 0 and max_bank >= 1")
        self.k, self.temperature, self.max_bank = k, temperature, max_bank
        self.metric: KNNAccuracy | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        n = _num_classes(pl_module, "KNNMonitor")
        if n >= 2 and self.metric is None:
            self.metric = KNNAccuracy(n, self.k, self.temperature, self.max_bank)

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if self.metric is None or trainer.sanity_checking:
            return
        self.metric.to(pl_module.device)
        self.metric.update(outputs["features"], outputs["labels"], bank=dataloader_idx == BANK_LOADER)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.metric is None or trainer.sanity_checking:
            return
        pl_module.log("knn/acc", self.metric.compute(), add_dataloader_idx=False, sync_dist=True)
        self.metric.reset()
