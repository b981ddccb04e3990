"""The retrieval panel: query images and their nearest neighbours in embedding space, framed by label agreement."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from sslkit.callbacks.dashboard.panel import DASHBOARD_DIR, EveryNValidations, auto_upscale, pixel_stats
from sslkit.callbacks.images import log_image_file, save_png, unnormalize
from sslkit.data.base import BANK_LOADER, VAL_LOADER

GREEN, RED = (0.1, 0.7, 0.2), (0.85, 0.1, 0.1)  # retrieval frames: same label as the query, different label


class RetrievalGrid(EveryNValidations):
    """Nearest-neighbour retrieval: query images and their top-``k`` neighbours in embedding space.

    The queries are the first ``num_queries`` images of the ``val`` loader, the
    gallery the ``bank`` loader (clean labelled training images, the kNN
    monitor's bank, first ``max_bank``); similarity is the cosine of the
    ``features``. One row per query: the query, then its neighbours, each framed
    green when its label equals the query's and red otherwise. Saved as
    ``dashboard/retrieval/<epoch>.png`` and ``<epoch>.csv`` (query index and
    label, neighbour bank index, label and similarity) and logged as
    ``dash/retrieval``, every ``every_n_validations``-th validation and at the end of fit.

    Args:
        num_queries: query rows.
        k: neighbours per query.
        max_bank: cap on the gallery.
        every_n_validations: make a grid every this many validations (and at the end of fit).
        upscale: nearest-neighbour magnification; default: enough to show about 48 pixels.
    """

    def __init__(self, num_queries: int = 8, k: int = 8, max_bank: int = 5000, every_n_validations: int = 5,
                 upscale: int | None = None) -> None:
        super().__init__(every_n_validations)
        if num_queries < 1 or k < 1 or max_bank < 1 or (upscale is not None and upscale < 1):
            raise ValueError("RetrievalGrid needs num_queries, k, max_bank >= 1 and upscale >= 1 (or null for automatic)")
        self.num_queries, self.k, self.max_bank, self.upscale = num_queries, k, max_bank, upscale
        self.last_path: Path | None = None
        self.reset()

    def reset(self) -> None:
        self._bank: list[torch.Tensor] = []
        self._bank_labels: list[torch.Tensor] = []
        self._bank_count = 0
        self._queries: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (images, features, labels)
        self._query_count = 0

    def ready(self) -> bool:
        return self._bank_count > 0 and self._query_count > 0

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if (trainer.sanity_checking or not trainer.is_global_zero or not isinstance(outputs, dict)
                or "features" not in outputs or not isinstance(batch, (list, tuple))
                or not (isinstance(batch[0], torch.Tensor) and batch[0].ndim == 4)):  # images only (not token batches)
            return
        feats = F.normalize(outputs["features"].detach().float(), dim=1).cpu()
        labels = outputs.get("labels", torch.full((feats.shape[0],), -1)).cpu()
        if dataloader_idx == BANK_LOADER and self._bank_count < self.max_bank:
            room = self.max_bank - self._bank_count
            self._bank.append(feats[:room])
            self._bank_labels.append(labels[:room])
            self._bank_count += min(room, feats.shape[0])
        elif dataloader_idx == VAL_LOADER and self._query_count < self.num_queries:
            room = self.num_queries - self._query_count
            self._queries.append((batch[0][:room].detach().cpu(), feats[:room], labels[:room]))
            self._query_count += min(room, feats.shape[0])

    def neighbours(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(similarities, bank indices)`` of the top-``k`` neighbours of each query, ``(Q, k)`` each."""
        q = torch.cat([f for _, f, _ in self._queries])
        sims = q @ torch.cat(self._bank).T
        return sims.topk(min(self.k, sims.shape[1]), dim=1)

    def make(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from torchvision.utils import make_grid

        sims, idx = self.neighbours()
        images = torch.cat([x for x, _, _ in self._queries])
        q_labels = torch.cat([y for _, _, y in self._queries])
        bank_labels = torch.cat(self._bank_labels)
        bank = trainer.val_dataloaders[BANK_LOADER]
        order = list(iter(bank.sampler)) if bank.sampler is not None else list(range(len(bank.dataset)))
        mean, std = pixel_stats(trainer)
        up = self.upscale or auto_upscale(images.shape[-1])
        border = max(1, up)
        tiles, rows = [], []
        for qi in range(images.shape[0]):
            tiles.append(_frame(unnormalize(images[qi: qi + 1], mean, std, up)[0], (1.0, 1.0, 1.0), border))
            for rank, (sim, j) in enumerate(zip(sims[qi].tolist(), idx[qi].tolist())):
                ds_index = order[j]
                img = bank.dataset[ds_index][0].unsqueeze(0)
                same = int(bank_labels[j]) == int(q_labels[qi]) and int(q_labels[qi]) >= 0
                color = GREEN if same else RED
                tiles.append(_frame(unnormalize(img, mean, std, up)[0], color, border))
                rows.append([qi, int(q_labels[qi]), rank + 1, ds_index, int(bank_labels[j]), f"{sim:.4f}"])
        grid = make_grid(torch.stack(tiles), nrow=idx.shape[1] + 1, padding=2, pad_value=1.0)
        folder = Path(trainer.default_root_dir) / DASHBOARD_DIR / "retrieval"
        path = save_png(grid, folder / f"{self._epoch}.png")
        with open(folder / f"{self._epoch}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["query", "query_label", "rank", "bank_index", "label", "cosine"])
            w.writerows(rows)
        self.last_path = path
        log_image_file(trainer, "dash/retrieval", path)


def _frame(img: torch.Tensor, color: tuple[float, float, float], width: int) -> torch.Tensor:
    """``img`` ``(C, H, W)`` (grey images become RGB) with a coloured border of ``width`` pixels."""
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    h, w = img.shape[1] + 2 * width, img.shape[2] + 2 * width
    out = torch.tensor(color, dtype=img.dtype).view(3, 1, 1).expand(3, h, w).clone()
    out[:, width:-width, width:-width] = img[:3]
    return out
