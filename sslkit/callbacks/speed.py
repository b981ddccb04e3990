"""Training speed of a real run: images per second and peak memory, without a device sync per step."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar
from lightning.pytorch.callbacks.progress.progress_bar import ProgressBar


def _batch_size(batch: Any) -> int:
    """Images (or sequences) in a training batch: ``(views, labels)`` tuples, dicts of tensors, tensors."""
    if isinstance(batch, torch.Tensor):
        return batch.shape[0]
    if isinstance(batch, (list, tuple)) and batch:
        last = batch[-1]
        return last.shape[0] if isinstance(last, torch.Tensor) and last.ndim >= 1 else _batch_size(batch[0])
    if isinstance(batch, dict) and batch:
        return _batch_size(next(iter(batch.values())))
    return 0


class SpeedMonitor(L.Callback):
    """Logs training throughput and peak memory, synchronising the device only when it reports.

    A per-step timer must wait for the GPU at every step, which stalls the
    host and hides the throughput it measures (Lightning's ``ThroughputMonitor``
    does). This callback counts images on the host, keeps losses on the device,
    and synchronises once every ``every_n_steps`` steps. Logged (per process
    counts times ``world_size``): ``speed/images_per_sec`` over the last
    interval, ``speed/peak_memory_gb`` (CUDA). At the end of fitting,
    :attr:`summary` holds the rate over all steps after ``warmup_steps``, the
    peak memory, the mean loss over the first and the last ``window`` steps and
    whether every loss was finite; ``out`` (if set) receives it as JSON on rank 0.

    Args:
        warmup_steps: steps left out of the rates (compilation, cuDNN autotuning, worker start-up).
        every_n_steps: steps between two reports.
        window: steps averaged for the first and last loss.
        out: JSON file for the summary.
    """

    def __init__(self, warmup_steps: int = 20, every_n_steps: int = 50, window: int = 20, out: str | None = None) -> None:
        if warmup_steps < 0 or every_n_steps < 1 or window < 1:
            raise ValueError("warmup_steps must be >= 0, every_n_steps and window >= 1")
        self.warmup_steps, self.every_n_steps, self.window = warmup_steps, every_n_steps, window
        self.out = out
        self.summary: dict[str, Any] = {}
        self._steps = 0
        self._images = 0  # since the end of the warm-up
        self._last = (0, 0.0)  # (images, time) at the last report
        self._start = 0.0
        self._losses: list[torch.Tensor] = []
        self._finite: torch.Tensor | None = None

    def _sync(self, pl_module: L.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(pl_module.device)
        if self.warmup_steps == 0:  # every step is timed: start the clock now
            self._sync(pl_module)
            self._start = time.perf_counter()
            self._last = (0, self._start)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._steps += 1
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor):
            loss = loss.detach().float().reshape(())
            finite = torch.isfinite(loss)  # accumulated on the device: read once, at the end
            self._finite = finite if self._finite is None else self._finite & finite
            self._losses.append(loss)
            if len(self._losses) > 2 * self.window:  # keep the first and the latest window
                del self._losses[self.window]
        if self._steps == self.warmup_steps:
            self._sync(pl_module)
            self._start = time.perf_counter()
            self._last = (0, self._start)
            return
        if self._steps < self.warmup_steps:
            return
        self._images += _batch_size(batch) * trainer.world_size
        if (self._steps - self.warmup_steps) % self.every_n_steps == 0:
            self._sync(pl_module)
            now = time.perf_counter()
            rate = (self._images - self._last[0]) / max(now - self._last[1], 1e-9)
            self._last = (self._images, now)
            pl_module.log("speed/images_per_sec", rate, rank_zero_only=True)
            if pl_module.device.type == "cuda":
                pl_module.log("speed/peak_memory_gb", torch.cuda.max_memory_allocated(pl_module.device) / 2**30,
                              rank_zero_only=True)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._sync(pl_module)
        elapsed = time.perf_counter() - self._start if self._steps > self.warmup_steps else 0.0
        losses = torch.stack(self._losses).cpu() if self._losses else torch.empty(0)
        w = max(1, min(self.window, len(losses) // 2))  # first and last windows never overlap
        self.summary = {
            "steps": self._steps,
            "timed_steps": max(self._steps - self.warmup_steps, 0),
            "images_per_sec": self._images / elapsed if elapsed > 0 else None,
            "world_size": trainer.world_size,
            "peak_memory_gb": (torch.cuda.max_memory_allocated(pl_module.device) / 2**30
                               if pl_module.device.type == "cuda" else None),
            "loss_first": float(losses[:w].mean()) if len(losses) else None,
            "loss_last": float(losses[-w:].mean()) if len(losses) else None,
            "loss_finite": None if self._finite is None else bool(self._finite),
        }
        if self.out and trainer.is_global_zero:
            Path(self.out).parent.mkdir(parents=True, exist_ok=True)
            Path(self.out).write_text(json.dumps(self.summary, indent=1))


#: Training metrics the progress bar shows (read from ``trainer.callback_metrics``).
PROGRESS_METRICS = ("train/loss",)


def _logging_step(trainer: L.Trainer) -> bool:
    connector = getattr(trainer, "_logger_connector", None)
    return bool(getattr(connector, "should_update_logs", True))


class _LoggedValues:
    """Shows :data:`PROGRESS_METRICS` in the progress bar, read at Lightning's logging steps only.

    A metric logged with ``prog_bar=True`` is converted to a Python number by
    Lightning after every training batch (a host-device synchronisation per
    step); sslkit methods log ``train/loss`` without it, and this bar reads the
    value from ``trainer.callback_metrics`` when Lightning writes its logs
    (every ``log_every_n_steps``) and outside training (validation, epoch end).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shown: dict[str, float] = {}

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        if not trainer.training or _logging_step(trainer):
            metrics = trainer.callback_metrics
            self._shown.update({k: float(metrics[k]) for k in PROGRESS_METRICS if isinstance(metrics.get(k), torch.Tensor)})
        return {**items, **self._shown}


class SyncFreeTQDMProgressBar(_LoggedValues, TQDMProgressBar):
    """Lightning's tqdm bar showing the training loss without a device sync per step (see :class:`_LoggedValues`)."""


class SyncFreeRichProgressBar(_LoggedValues, RichProgressBar):
    """Lightning's rich bar showing the training loss without a device sync per step (see :class:`_LoggedValues`)."""


def sync_free_progress_bar() -> ProgressBar:
    """The progress bar Lightning would pick (rich if installed, else tqdm), showing the loss at logging steps."""
    from lightning.pytorch.callbacks.progress.rich_progress import _RICH_AVAILABLE

    return SyncFreeRichProgressBar() if _RICH_AVAILABLE else SyncFreeTQDMProgressBar()
