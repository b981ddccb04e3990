"""Crash-safe checkpoint writes and a final ``last.ckpt``: the plugin and checkpoint callback the CLI installs by default."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint

from sslkit.utils.checkpoint import CheckpointWriteError, write_error_message


def _partial_name(path: Path) -> Path:
    return path.parent / f".{path.name}.partial-{os.getpid()}"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's ``TorchCheckpointIO`` with a crash-safe write for local files.

    The checkpoint is serialised in memory, written to a hidden ``.<name>.partial-<pid>``
    file *in the same folder*, flushed and ``fsync``-ed, then moved over the target
    with ``os.replace`` (atomic on POSIX) and the folder entry is synced. A process
    killed at any moment therefore leaves either the old file or the complete new
    one, never a truncated ``last.ckpt``. (Lightning's default writes through an
    fsspec transaction whose temporary file lives in the system temp folder, so
    when that is another filesystem the final move is a copy that a kill can cut
    short, and a killed write leaves a full-size temporary file behind.)

    A failed write (``ENOSPC``, ``EACCES``, ...) removes the partial file and raises
    :class:`CheckpointWriteError` naming the file, the reason and the fix. Remote
    paths (``s3://`` ...) go to Lightning's writer unchanged.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if "://" in str(path) and not str(path).startswith("file://"):
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(str(path).removeprefix("file://"))
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        partial = _partial_name(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._write(partial, buffer.getbuffer())
            os.replace(partial, path)
            _fsync_folder(path.parent)
        except OSError as e:
            partial.unlink(missing_ok=True)
            raise CheckpointWriteError(e.errno, write_error_message(path, e), str(path)) from e
        for stale in path.parent.glob(f".{path.name}.partial-*"):  # left by a process killed mid-write
            stale.unlink(missing_ok=True)

    @staticmethod
    def _write(path: Path, data: memoryview) -> None:
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class FinalCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``last.ckpt`` always holds the weights training ended with.

    Without a monitor, Lightning saves after each validation run, so with
    ``check_val_every_n_epoch: 5`` and ``max_epochs: 8`` its ``last.ckpt`` stops at
    epoch 5; its own end-of-training save is skipped once any ``last.ckpt`` exists.
    This one also saves ``last.ckpt`` when training ends on a step not yet saved, so
    ``sslkit export`` / ``transfer`` read the same weights as the end-of-fit summary.
    """

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.save_last and trainer.global_step > 0 and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
            return
        super().on_train_end(trainer, pl_module)
