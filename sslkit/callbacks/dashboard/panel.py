"""What every dashboard panel shares: the output folder, image magnification, the DataModule's pixel statistics
and the every-N-validations schedule."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_warn

DASHBOARD_DIR = "dashboard"


def auto_upscale(size: int, target: int = 48) -> int:
    """Integer magnification that brings a ``size``-pixel image to about ``target`` pixels (at least 1)."""
    return max(1, target // max(size, 1))


def pixel_stats(trainer: L.Trainer) -> tuple[Any, Any]:
    """The DataModule's normalisation ``(mean, std)``; identity when it has none."""
    dm = trainer.datamodule
    return getattr(dm, "mean", (0.0, 0.0, 0.0)), getattr(dm, "std", (1.0, 1.0, 1.0))


class EveryNValidations(L.Callback):
    """Collects validation outputs; makes its panel every ``every_n_validations`` and once more at the end of fit."""

    def __init__(self, every_n_validations: int) -> None:
        if every_n_validations < 1:
            raise ValueError(f"{type(self).__name__} needs every_n_validations >= 1, got {every_n_validations}")
        self.every_n_validations = every_n_validations
        self.validations = 0  # completed validations (not the sanity check), saved in checkpoints
        self._made_at: int | None = None  # the validation the last panel was made for
        self._epoch = 0

    def reset(self) -> None:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def make(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        raise NotImplementedError

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.reset()

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        self.validations += 1
        self._epoch = trainer.current_epoch
        if self.validations % self.every_n_validations == 0 and self.ready():
            self._make(trainer, pl_module)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and self.validations and self._made_at != self.validations and self.ready():
            self._make(trainer, pl_module)  # the last validation's panel, whatever every_n_validations

    def _make(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """:meth:`make`, with a warning instead of an error: a panel never stops a run."""
        self._made_at = self.validations
        try:
            self.make(trainer, pl_module)
        except Exception as err:  # noqa: BLE001
            rank_zero_warn(f"{type(self).__name__}: no panel at epoch {self._epoch} ({type(err).__name__}: {err})")

    def state_dict(self) -> dict[str, Any]:
        return {"validations": self.validations}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.validations = int(state_dict.get("validations", self.validations))
