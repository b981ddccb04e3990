"""Data health: how many image files could not be read (and were replaced) so far."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn


class UnreadableFilesMonitor(L.Callback):
    """Logs ``data/unreadable_files``, the number of distinct unreadable files found so far.

    Works with any DataModule that has ``unreadable_files(flags=None) -> list[str]``
    (e.g. :class:`~sslkit.data.ImageFolderDataModule` with ``bad_files: replace``)
    and does nothing for others. When the DataModule also has
    ``unreadable_flags() -> Tensor`` (one 0/1 entry per file, same order on every
    process), the flags of all processes are combined by an all-reduce max, so
    the count is that of the whole run and identical on every rank. Logged at
    the end of every training and validation epoch (not during the sanity
    check); files not reported before are named in a warning on rank zero.
    The files already reported are saved in checkpoints (the DataModule saves
    its flags), so a resumed run neither restarts the count nor warns again.
    """

    def __init__(self) -> None:
        self.reported: set[str] = set()

    def state_dict(self) -> dict[str, list[str]]:
        return {"reported": sorted(self.reported)}

    def load_state_dict(self, state_dict: dict[str, list[str]]) -> None:
        self.reported = set(state_dict.get("reported", ()))

    def _files(self, trainer: L.Trainer, pl_module: L.LightningModule) -> list[str] | None:
        dm = getattr(trainer, "datamodule", None)
        if not callable(getattr(dm, "unreadable_files", None)):
            return None
        if not callable(getattr(dm, "unreadable_flags", None)):
            return list(dm.unreadable_files())
        flags = dm.unreadable_flags()
        if trainer.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            flags = flags.to(pl_module.device, torch.int32)  # NCCL reduces device tensors only
            torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
        return list(dm.unreadable_files(flags.cpu()))

    def _update(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        files = self._files(trainer, pl_module)
        if files is None:
            return
        pl_module.log("data/unreadable_files", float(len(files)), sync_dist=True)  # equal on every rank
        new = [f for f in files if f not in self.reported]
        if new:
            self.reported.update(new)
            more = f" and {len(new) - 10} more" if len(new) > 10 else ""
            rank_zero_warn(f"{len(new)} unreadable image file(s) found and replaced ({len(files)} so far): "
                           f"{', '.join(new[:10])}{more}")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._update(trainer, pl_module)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._update(trainer, pl_module)
