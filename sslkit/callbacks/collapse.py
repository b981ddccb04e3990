"""Collapse monitor: spread and effective rank of validation embeddings."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn

from sslkit.data.base import VAL_LOADER
from sslkit.metrics.collapse import effective_rank, embedding_std
from sslkit.utils.distributed import gather_with_grad


class CollapseMonitor(L.Callback):
    """Logs ``collapse/std`` and ``collapse/rank`` of the validation embeddings every validation.

    ``collapse/std`` is the per-dimension std of L2-normalised features
    (healthy: about ``1/sqrt(d)``; collapsed: ``0``), ``collapse/rank`` the
    RankMe effective rank (healthy: close to ``min(n, d)``; collapsed: ``1``).
    When ``std * sqrt(d) < warn_ratio`` a warning names the method and the
    values. Features come from the ``val`` loader (the method's ``embed``
    outputs), capped at ``max_samples`` per process and gathered across processes.
    They are centred (batch mean subtracted) first: the std of Chen & He was
    defined on batch-normalised projector outputs, while raw backbone features
    after a ReLU share a large positive mean that would make a healthy encoder
    look collapsed. A constant encoder still gives std 0 and rank 1.

    Args:
        max_samples: cap on the embeddings kept per process.
        warn_ratio: warn when ``std`` falls below this fraction of ``1/sqrt(d)``.
    """

    def __init__(self, max_samples: int = 4096, warn_ratio: float = 0.1) -> None:
        if max_samples < 2 or not 0 < warn_ratio < 1:
            raise ValueError("CollapseMonitor needs max_samples >= 2 and 0 < warn_ratio < 1")
        self.max_samples, self.warn_ratio = max_samples, warn_ratio
        self._feats: list[torch.Tensor] = []
        self._count = 0
        self.last: dict[str, float] = {}

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._feats, self._count = [], 0

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if trainer.sanity_checking or dataloader_idx != VAL_LOADER or not isinstance(outputs, dict):
            return
        room = self.max_samples - self._count
        if room > 0 and "features" in outputs:
            f = outputs["features"].detach()[:room].float()
            self._feats.append(f)
            self._count += f.shape[0]

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not self._feats:
            return
        z = torch.cat(self._feats)
        z = gather_with_grad(z)  # processes may hold different numbers of samples
        self._feats, self._count = [], 0
        if z.shape[0] < 2:
            return
        z = z - z.mean(dim=0, keepdim=True)
        std, rank = embedding_std(z), effective_rank(z)
        pl_module.log("collapse/std", std, add_dataloader_idx=False, sync_dist=True)  # equal on every rank
        pl_module.log("collapse/rank", rank, add_dataloader_idx=False, sync_dist=True)
        d = z.shape[1]
        self.last = {"std": float(std), "rank": float(rank), "dim": d, "n": z.shape[0]}
        if float(std) * math.sqrt(d) < self.warn_ratio:
            rank_zero_warn(
                f"representation collapse suspected in {type(pl_module).__name__} at epoch {trainer.current_epoch}: "
                f"std of normalised embeddings {float(std):.2e} << 1/sqrt(d) = {1 / math.sqrt(d):.3f}, "
                f"effective rank {float(rank):.1f} of {min(z.shape[0], d)}. Check the loss (e.g. missing stop-gradient, "
                "predictor or centering), the augmentation strength and the learning rate."
            )
