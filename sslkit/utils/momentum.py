"""Momentum (EMA) target encoders with BYOL's cosine schedule of the decay rate."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def cosine_tau(step: int, total_steps: int, base_tau: float, final_tau: float = 1.0) -> float:
    """BYOL's decay-rate schedule (Grill et al., 2020, arXiv:2006.07733, section 3.2).

    ``tau_k = final - (final - base) * (cos(pi * k / K) + 1) / 2``: ``base`` at
    step 0, halfway between at ``K / 2`` and ``final`` from ``K`` on.

    Args:
        step: optimizer steps taken so far (``k``).
        total_steps: optimizer steps of the whole training (``K``); ``<= 0`` gives ``base_tau``.
        base_tau: decay rate at the start.
        final_tau: decay rate at the end.
    """
    if total_steps <= 0:
        return base_tau
    progress = min(max(step, 0) / total_steps, 1.0)
    return final_tau - (final_tau - base_tau) * (math.cos(math.pi * progress) + 1) / 2


class MomentumEncoder(nn.Module):
    """A frozen exponential-moving-average copy of one or more online modules.

    ``MomentumEncoder(backbone, projector)`` deep-copies the modules into a
    ``nn.Sequential`` (so ``target(x) = projector'(backbone'(x))``) whose
    parameters have ``requires_grad=False``: they never reach the optimizer
    (methods build it from parameters that require gradients) and are changed
    only by :meth:`update`, ``target <- tau * target + (1 - tau) * online``.
    Buffers (BatchNorm statistics) are not averaged: the target keeps its own,
    as in BYOL and MoCo. The online modules are remembered (not registered as
    submodules), so a method only builds the encoder: the
    :class:`~sslkit.methods.SSLMethod` base steps every ``MomentumEncoder`` it
    holds after each batch.

    :meth:`step` updates only when ``trainer.global_step`` moved since the last
    update (so never on an accumulation micro-batch where the optimizer did not
    step), and computes ``tau`` from the step count alone, so a resumed run
    continues the schedule exactly. The step of the last update is a buffer and
    travels in checkpoints.

    Args:
        *online: the online modules to copy, in forward order.
        base_tau: decay rate at the start of training (0.99 in BYOL).
        final_tau: decay rate at the end (1.0 in BYOL; MoCo uses a constant 0.999).
    """

    def __init__(self, *online: nn.Module, base_tau: float = 0.99, final_tau: float = 1.0) -> None:
        super().__init__()
        if not online:
            raise ValueError("MomentumEncoder needs at least one module to copy")
        if not 0.0 <= base_tau <= final_tau <= 1.0:
            raise ValueError(f"need 0 <= base_tau <= final_tau <= 1, got base_tau={base_tau}, final_tau={final_tau}")
        self.base_tau, self.final_tau = base_tau, final_tau
        self.encoder = nn.Sequential(*(copy.deepcopy(m) for m in online))
        self.online = tuple(online)  # a tuple is not registered: the online weights stay the method's own
        self.encoder.requires_grad_(False)
        self.register_buffer("last_step", torch.zeros((), dtype=torch.long))
        self._last_step: int | None = 0  # host copy of the buffer (reading the buffer on a GPU is a sync)
        self.tau = base_tau

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Target outputs, without gradients."""
        return self.encoder(x)

    def tau_at(self, step: int, total_steps: int) -> float:
        """Decay rate used by the update after optimizer step ``step`` (0-based)."""
        return cosine_tau(step, total_steps, self.base_tau, self.final_tau)

    @torch.no_grad()
    def update(self, tau: float) -> None:
        """``target <- tau * target + (1 - tau) * online`` for every parameter.

        Args:
            tau: decay rate in ``[0, 1]``.
        """
        src = [p for m in self.online for p in m.parameters()]
        dst = list(self.encoder.parameters())
        if len(src) != len(dst):
            raise ValueError(f"online modules have {len(src)} parameters, the target {len(dst)}")
        for t, o in zip(dst, src):
            t.lerp_(o.detach().to(t.dtype), 1.0 - tau)

    def step(self, global_step: int, total_steps: int) -> bool:
        """Update once if the optimizer stepped since the last call.

        Args:
            global_step: optimizer steps taken so far (``trainer.global_step``).
            total_steps: optimizer steps of the whole training.

        Returns:
            Whether an update happened.
        """
        if int(global_step) <= self._host_last_step():
            return False
        self.tau = self.tau_at(int(global_step) - 1, total_steps)
        self.update(self.tau)
        self._set_last_step(int(global_step))
        return True

    def skip(self, global_step: int) -> None:
        """Consume optimizer step ``global_step`` without updating: the optimizer skipped it
        (a gradient scaler found Inf/NaN), so the target must not move either."""
        self._set_last_step(max(int(global_step), self._host_last_step()))

    def _host_last_step(self) -> int:
        if self._last_step is None:  # after loading a state dict: read the buffer once
            self._last_step = int(self.last_step)
        return self._last_step

    def _set_last_step(self, step: int) -> None:
        self.last_step.fill_(step)
        self._last_step = step

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._last_step = None


class StepTracker:
    """Tells, per batch, whether each optimizer's step ran or was skipped.

    Lightning counts an optimizer step (``trainer.global_step``) even when a
    ``GradScaler`` finds Inf/NaN gradients and skips ``optimizer.step()``, or when
    :class:`~sslkit.callbacks.NonFiniteGuard` (``policy="skip"``) drops the gradients.
    A step *ran* when the torch optimizer's ``step`` returned with at least one
    gradient present (a step post-hook); it was *attempted* when Lightning called
    ``on_before_optimizer_step`` for it. ``attempted and not ran`` is a skipped step;
    neither is a gradient-accumulation micro-batch.
    """

    def __init__(self) -> None:
        self._watched: set[int] = set()
        self.attempted: set[int] = set()
        self.ran: set[int] = set()

    def watch(self, optimizers: list[torch.optim.Optimizer]) -> None:
        """Register the step post-hook on optimizers not yet watched."""
        for opt in optimizers:
            if id(opt) not in self._watched:
                opt.register_step_post_hook(self._after_step)
                self._watched.add(id(opt))

    def start_batch(self) -> None:
        self.attempted.clear()
        self.ran.clear()

    def before_step(self, optimizer: torch.optim.Optimizer) -> None:
        self.attempted.add(id(getattr(optimizer, "optimizer", optimizer)))  # unwrap a LightningOptimizer

    def _after_step(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        if any(p.grad is not None for g in optimizer.param_groups for p in g["params"]):
            self.ran.add(id(optimizer))

    def skipped(self, optimizer: torch.optim.Optimizer | None = None) -> bool:
        """Whether ``optimizer``'s step (any attempted step if ``None``) was attempted in this batch and
        did not run; for ``None``: some step was attempted and none ran."""
        if optimizer is None:
            return bool(self.attempted) and not self.ran
        key = id(getattr(optimizer, "optimizer", optimizer))
        return key in self.attempted and key not in self.ran
