"""What Lightning does not save for an exact resume: RNG states, the W&B run id, the environment."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from sslkit.utils.checkpoint import collect_rng_states, package_versions, set_rng_states

CHECKPOINT_KEY = "sslkit"


def wandb_run_id(trainer: L.Trainer) -> str | None:
    """The id of the trainer's W&B run, if it logs to W&B."""
    for logger in trainer.loggers:
        if type(logger).__name__ == "WandbLogger":
            return logger.version
    return None


class ResumeState(L.Callback):
    """Saves and restores what an exact resume needs beyond Lightning's own state.

    * the global RNG states (torch CPU and CUDA, numpy, python): batched
      augmentation on the device draws from them; they are restored at
      ``on_train_start``, after the sanity check and the train loader are set up,
      so the first resumed batch gets the same draws as in an uninterrupted run;
    * validation does not move the training's random streams: the states after
      each training batch are put back when validation ends (creating an
      evaluation DataLoader iterator draws from the global torch RNG), so a run
      resumed from a checkpoint saved just before an epoch-end validation, which
      Lightning does not repeat, continues exactly, and changing how often
      validation runs does not change the training trajectory (for this, place it
      after callbacks that draw random numbers at batch end, as the CLI does);
    * ``checkpoint["sslkit"]``: the W&B run id (the CLI resumes that run) and the
      package versions;
    * ``versions.json`` with the package versions, written next to the
      checkpoints (or in ``default_root_dir``) when fitting starts.

    Model, optimizer, scheduler, loop progress, callback states (e.g. the online
    probe) and the shuffle position (see :class:`~sslkit.data.resumable.ResumableDataLoader`)
    are restored by Lightning itself.
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None
        self._check_epoch_progress = False
        self._after_batch: tuple | None = None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
        self._after_batch = (torch.get_rng_state(), cuda, np.random.get_state(), random.getstate())

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._after_batch is None or trainer.sanity_checking or trainer.state.fn != "fit":
            return
        cpu, cuda, np_state, py_state = self._after_batch
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        np.random.set_state(np_state)
        random.setstate(py_state)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": collect_rng_states()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict.get("rng")
        self._check_epoch_progress = True

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if not self._check_epoch_progress:
            return
        self._check_epoch_progress = False
        # Lightning 2.6, restarted from a checkpoint saved after the last batch of an epoch, moves into the next
        # epoch without counting it as started (and keeps the skipped validation in the per-epoch validation
        # count); a checkpoint saved in that epoch would then restart the epoch from its first batch. Count it as
        # a normal epoch start does: during a training batch, started == processed + 1.
        progress = trainer.fit_loop.epoch_progress
        if progress.current.started == progress.current.processed:
            progress.increment_ready()
            progress.increment_started()
            trainer.fit_loop.epoch_loop.val_loop.batch_progress.total.reset()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning 2.6 hands saved dataloader states over in FitLoop.setup_data, which has already run (and
        # returned early since) when configure_optimizers asked for trainer.estimated_stepping_batches: hand
        # them over here, before the first batch is drawn (ResumableDataLoader reads its state lazily).
        fit_loop = trainer.fit_loop
        if getattr(fit_loop, "_combined_loader_states_to_load", None) and hasattr(fit_loop, "_load_combined_loader_states"):
            fit_loop._load_combined_loader_states()
        # a checkpoint saved after the last batch of an epoch (on_train_batch_end, before the epoch-end validation)
        # records "all batches consumed"; Lightning moves on to the next epoch, which must start at its first batch
        loaders = trainer.train_dataloader
        for loader in loaders if isinstance(loaders, (list, tuple)) else [loaders]:
            if getattr(loader, "_resume_at", 0) >= trainer.num_training_batches:
                loader._resume_at = 0
        if self._pending is not None:
            set_rng_states(self._pending)
            self._pending = None

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = {"wandb_id": wandb_run_id(trainer), "versions": package_versions()}

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        ckpt = trainer.checkpoint_callback
        folder = Path(getattr(ckpt, "dirpath", None) or trainer.default_root_dir)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "versions.json").write_text(json.dumps(package_versions(), indent=2) + "\n")
