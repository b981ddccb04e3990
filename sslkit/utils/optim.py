"""Learning-rate schedules and parameter groups used by every method."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler


class WarmupCosineLR(LRScheduler):
    """Linear warm-up followed by cosine decay, stepped once per optimizer step.

    The schedule length is taken from the trainer: the method calls
    :meth:`bind` with the total number of optimizer steps before training, so a
    recipe only states the warm-up in epochs. Warm-up and decay are expressed
    as fractions of each group's base learning rate.

    Args:
        optimizer: the wrapped optimizer.
        warmup_epochs: epochs of linear warm-up (fractions allowed).
        warmup_start_factor: learning rate at step 0, as a fraction of the base rate.
        min_lr_factor: learning rate at the last step, as a fraction of the base rate.
        decay: ``"cosine"``, or ``"linear"`` (BERT's fine-tuning schedule, Devlin et al., 2019).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        warmup_epochs: float = 10.0,
        warmup_start_factor: float = 0.0,
        min_lr_factor: float = 0.0,
        decay: str = "cosine",
    ) -> None:
        if warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
        if not 0.0 <= warmup_start_factor <= 1.0 or not 0.0 <= min_lr_factor <= 1.0:
            raise ValueError("warmup_start_factor and min_lr_factor must lie in [0, 1]")
        if decay not in ("cosine", "linear"):
            raise ValueError(f"decay must be 'cosine' or 'linear', got {decay!r}")
        self.decay = decay
        self.warmup_epochs = warmup_epochs
        self.warmup_start_factor = warmup_start_factor
        self.min_lr_factor = min_lr_factor
        self.total_steps = 0
        self.warmup_steps = 0
        super().__init__(optimizer)

    def bind(self, total_steps: int, steps_per_epoch: float) -> None:
        """Set the schedule length (total optimizer steps) and the epoch size in steps."""
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = min(int(round(self.warmup_epochs * steps_per_epoch)), self.total_steps)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr

    def factor(self, step: int) -> float:
        """Multiplier of the base learning rate at optimizer step ``step``."""
        if self.total_steps == 0:  # not bound yet
            return 1.0
        if step < self.warmup_steps:
            return self.warmup_start_factor + (1 - self.warmup_start_factor) * step / self.warmup_steps
        span = max(self.total_steps - self.warmup_steps, 1)
        progress = min((step - self.warmup_steps) / span, 1.0)
        if self.decay == "linear":
            return self.min_lr_factor + (1 - self.min_lr_factor) * (1 - progress)
        return self.min_lr_factor + (1 - self.min_lr_factor) * 0.5 * (1 + math.cos(math.pi * progress))

    def get_lr(self) -> list[float]:
        f = self.factor(self.last_epoch)
        return [base * f for base in self.base_lrs]


def split_weight_decay(module: nn.Module) -> list[dict]:
    """Parameter groups that exempt biases and normalisation weights from weight decay.

    Parameters with fewer than two dimensions (biases, BatchNorm/LayerNorm
    scales) go into a group with ``weight_decay=0``; LARS then also skips
    their trust-ratio adaptation, as in the SimCLR and BYOL papers.

    Returns:
        Two parameter groups: ``[{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]``.
    """
    decay, no_decay = [], []
    for p in module.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]


def optimizer_config(optimizer: torch.optim.Optimizer, lr_scheduler: Callable | None, module: Any) -> Any:
    """The ``configure_optimizers`` return value for an optimizer and an optional scheduler callable.

    A :class:`WarmupCosineLR` is bound to the total number of optimizer steps of
    ``module.trainer`` and stepped every optimizer step; any other scheduler is
    stepped every epoch. The trainer is only consulted when a scheduler needs it.
    """
    if lr_scheduler is None:
        return optimizer
    scheduler = lr_scheduler(optimizer)
    if isinstance(scheduler, WarmupCosineLR):
        trainer = module.trainer
        total = trainer.estimated_stepping_batches
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else 1
        scheduler.bind(total_steps=total, steps_per_epoch=total / epochs)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
    return {"optimizer": optimizer, "lr_scheduler": scheduler}
