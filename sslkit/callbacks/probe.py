"""Online evaluation during pretraining: a linear probe and a kNN monitor, both on frozen features."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn
from torch.nn.utils import skip_init
from torchmetrics.utilities.distributed import gather_all_tensors

from sslkit.data.base import BANK_LOADER, VAL_LOADER
from sslkit.metrics import KNNAccuracy
from sslkit.metrics.linear import fit_logistic


def _num_classes(pl_module: L.LightningModule, who: str) -> int:
    n = int(getattr(pl_module, "num_classes", 0) or 0)
    if n < 2:
        rank_zero_warn(f"{who} is off: the model has num_classes={n} (unlabelled data); it logs nothing.")
    return n


def _gather(t: torch.Tensor) -> torch.Tensor:
    """Concatenate a tensor's rows over every process (uneven sizes allowed), in rank order."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.cat(gather_all_tensors(t.contiguous()))
    return t


class OnlineLinearProbe(L.Callback):
    """A linear probe refitted on frozen features at every validation; logs ``probe/linear_acc``.

    During validation the features of the clean labelled training images of the
    ``bank`` loader (backbone in eval mode, no gradients; label ``-1`` skipped;
    at most ``max_bank`` per process) and of the ``val`` loader are kept. At the
    end of validation the bank is gathered from every process and
    :func:`fit_logistic` fits a standardised multinomial logistic regression on
    it from scratch, in float32 whatever the trainer's precision; under several
    processes rank 0 fits and broadcasts, so every process holds the same probe.
    Its top-1 accuracy on the ``val`` features (all processes) is logged as
    ``probe/linear_acc``, its training cross-entropy as ``probe/train_loss``.

    The reading is that of the offline probe (scikit-learn's logistic
    regression on the same frozen features, see docs/evaluation.md) at every
    validation, the first included; it does not lag the representation as a
    probe trained step by step on augmented train-mode features does. The probe
    never back-propagates into the backbone and is not trained between
    validations. The last fitted probe (a plain ``nn.Linear`` on raw features)
    is saved in checkpoints.

    Args:
        l2: L2 penalty on the summed cross-entropy (scikit-learn's ``1 / C``; 1.0 as its default).
        max_iter: L-BFGS iterations per fit at most.
        max_bank: cap on bank features held per process (the first ones seen).
    """

    def __init__(self, l2: float = 1.0, max_iter: int = 500, max_bank: int = 20000) -> None:
        if l2 <= 0 or max_iter < 1 or max_bank < 1:
            raise ValueError("OnlineLinearProbe needs l2 > 0, max_iter >= 1 and max_bank >= 1")
        self.l2, self.max_iter, self.max_bank = l2, max_iter, max_bank
        self.num_classes = 0
        self.probe: nn.Linear | None = None
        self._bank: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._val: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._bank_count = 0

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.num_classes < 2:
            self.num_classes = _num_classes(pl_module, "OnlineLinearProbe")

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._bank, self._val, self._bank_count = [], [], 0

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if self.num_classes < 2 or trainer.sanity_checking:
            return
        labels = outputs["labels"]
        keep = labels >= 0
        feats, labels = outputs["features"][keep].detach().float(), labels[keep]
        if dataloader_idx == BANK_LOADER:
            room = self.max_bank - self._bank_count
            feats, labels = feats[:room], labels[:room]
            self._bank_count += feats.shape[0]
            self._bank.append((feats, labels))
        elif dataloader_idx == VAL_LOADER:
            self._val.append((feats, labels))

    @staticmethod
    def _cat(pairs: list[tuple[torch.Tensor, torch.Tensor]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if not pairs:
            return torch.empty(0, 0, device=device), torch.empty(0, dtype=torch.long, device=device)
        return torch.cat([f for f, _ in pairs]), torch.cat([y for _, y in pairs])

    def fit(self, trainer: L.Trainer, bank: tuple[torch.Tensor, torch.Tensor]) -> float | None:
        """Fit the probe on the (gathered) bank, identical on every process; return its training loss."""
        fitted = None
        if trainer.is_global_zero and bank[0].shape[0] > 0:
            probe, loss = fit_logistic(*bank, self.num_classes, self.l2, self.max_iter)
            fitted = {"weight": probe.weight.cpu(), "bias": probe.bias.cpu(), "loss": loss}
        if trainer.world_size > 1:
            fitted = trainer.strategy.broadcast(fitted, src=0)
        if fitted is None:
            return None
        weight = fitted["weight"].to(bank[0].device)
        self.probe = skip_init(nn.Linear, weight.shape[1], weight.shape[0], device=weight.device).requires_grad_(False)
        self.probe.load_state_dict({"weight": weight, "bias": fitted["bias"].to(weight.device)})
        return fitted["loss"]

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.num_classes < 2 or trainer.sanity_checking:
            return
        device = pl_module.device
        bank_x, bank_y = self._cat(self._bank, device)
        val_x, val_y = self._cat(self._val, device)
        self._bank, self._val = [], []
        dim = pl_module.num_features
        bank = (_gather(bank_x.reshape(-1, dim)), _gather(bank_y))
        loss = self.fit(trainer, bank)
        if loss is None:
            rank_zero_warn("OnlineLinearProbe: no labelled bank features this validation; it logs nothing.")
            return
        with torch.no_grad(), torch.autocast(device_type=device.type, enabled=False):
            correct = (self.probe(val_x.reshape(-1, dim)).argmax(dim=1) == val_y).sum() if val_y.numel() else 0
        counts = _gather(torch.tensor([[float(correct), float(val_y.numel())]], device=device)).sum(dim=0)
        if counts[1] == 0:
            return
        # computed over every process's samples already: the same value on every rank (sync_dist keeps it so)
        pl_module.log("probe/linear_acc", counts[0] / counts[1], add_dataloader_idx=False, sync_dist=True)
        pl_module.log("probe/train_loss", torch.tensor(loss, device=device), add_dataloader_idx=False, sync_dist=True)

    def state_dict(self) -> dict[str, Any]:
        return {} if self.probe is None else {"probe": {k: v.cpu() for k, v in self.probe.state_dict().items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict.get("probe"):
            w = state_dict["probe"]["weight"]
            self.probe = skip_init(nn.Linear, w.shape[1], w.shape[0]).requires_grad_(False)
            self.probe.load_state_dict(state_dict["probe"])


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
