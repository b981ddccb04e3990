"""A callback of your own: write the lowest and last training loss to ``<default_root_dir>/loss_summary.json``."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L


class LossSummary(L.Callback):
    """Record every training loss; at the end of fit, write the first, lowest and last to a JSON file.

    Args:
        filename: file name under the trainer's ``default_root_dir``.
    """

    def __init__(self, filename: str = "loss_summary.json") -> None:
        if not filename.endswith(".json"):
            raise ValueError(f"filename must end with .json, got {filename!r}")
        self.filename = filename
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        self.losses.append(float(outputs["loss"]))

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and self.losses:
            summary = {"steps": len(self.losses), "first": self.losses[0], "lowest": min(self.losses), "last": self.losses[-1]}
            Path(trainer.default_root_dir, self.filename).write_text(json.dumps(summary, indent=1))
