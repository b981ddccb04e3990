"""DINO's self-distillation loss with a centred, sharpened teacher."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from sslkit.utils.distributed import world_size


class DINOLoss(nn.Module):
    """Cross-entropy between teacher and student distributions (Caron et al.,
    2021, "Emerging Properties in Self-Supervised Vision Transformers",
    arXiv:2104.14294, algorithm 1).

    The teacher's outputs are centred (minus ``center``) and sharpened
    (temperature ``teacher_temp``); every student crop is trained to match
    every teacher crop of another view: the loss averages
    ``-softmax((t_i - c) / T_t) . log_softmax(s_v / T_s)`` over all pairs
    with ``v != i``, where the teacher crops are the first student crops (the
    global views). After each call the centre moves towards the mean teacher
    output of the global batch: ``c <- m c + (1 - m) mean(t)`` (all-reduced
    across processes). The teacher temperature warms up linearly from
    ``warmup_teacher_temp`` to ``teacher_temp`` over ``warmup_teacher_temp_epochs``.

    Args:
        out_dim: size of the head outputs (number of prototypes), >= 1.
        teacher_temp: teacher temperature after warm-up, > 0.
        warmup_teacher_temp: teacher temperature at epoch 0, > 0.
        warmup_teacher_temp_epochs: epochs of linear warm-up, >= 0.
        student_temp: student temperature, > 0.
        center_momentum: EMA rate of the centre, in ``[0, 1)``.
    """

    def __init__(self, out_dim: int, teacher_temp: float = 0.04, warmup_teacher_temp: float = 0.04,
                 warmup_teacher_temp_epochs: int = 0, student_temp: float = 0.1, center_momentum: float = 0.9) -> None:
        super().__init__()
        if out_dim < 1:
            raise ValueError(f"out_dim must be >= 1, got {out_dim}")
        if min(teacher_temp, warmup_teacher_temp, student_temp) <= 0:
            raise ValueError("teacher_temp, warmup_teacher_temp and student_temp must be > 0")
        if warmup_teacher_temp_epochs < 0:
            raise ValueError(f"warmup_teacher_temp_epochs must be >= 0, got {warmup_teacher_temp_epochs}")
        if not 0 <= center_momentum < 1:
            raise ValueError(f"center_momentum must lie in [0, 1), got {center_momentum}")
        self.teacher_temp, self.warmup_teacher_temp = teacher_temp, warmup_teacher_temp
        self.warmup_teacher_temp_epochs = warmup_teacher_temp_epochs
        self.student_temp, self.center_momentum = student_temp, center_momentum
        self.register_buffer("center", torch.zeros(1, out_dim))

    def teacher_temperature(self, epoch: float) -> float:
        """Teacher temperature at (possibly fractional) ``epoch``."""
        if epoch >= self.warmup_teacher_temp_epochs:
            return self.teacher_temp
        return self.warmup_teacher_temp + (self.teacher_temp - self.warmup_teacher_temp) * epoch / self.warmup_teacher_temp_epochs

    def forward(self, student_out: Sequence[torch.Tensor], teacher_out: Sequence[torch.Tensor],
                epoch: float = 0.0) -> torch.Tensor:
        """Compute the loss and update the centre.

        Args:
            student_out: one ``(N, out_dim)`` tensor per crop, global crops first.
            teacher_out: one ``(N, out_dim)`` tensor per global crop; treated as constants.
            epoch: current epoch, for the teacher-temperature warm-up.

        Returns:
            Scalar mean cross-entropy over all (teacher crop, other student crop) pairs.
        """
        if len(teacher_out) < 1 or len(student_out) < 2 or len(teacher_out) > len(student_out):
            raise ValueError(f"need >= 1 teacher crop and >= 2 student crops, got {len(teacher_out)} and {len(student_out)}")
        shapes = {tuple(t.shape) for t in list(student_out) + list(teacher_out)}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2 or next(iter(shapes))[1] != self.center.shape[1]:
            raise ValueError(f"every output must have shape (N, {self.center.shape[1]}), got {sorted(shapes)}")
        temp = self.teacher_temperature(epoch)
        teacher = [t.detach().float() for t in teacher_out]
        targets = [F.softmax((t - self.center) / temp, dim=-1) for t in teacher]
        log_probs = [F.log_softmax(s.float() / self.student_temp, dim=-1) for s in student_out]
        total, terms = 0.0, 0
        for i, t in enumerate(targets):
            for v, lp in enumerate(log_probs):
                if v != i:
                    total = total + (-t * lp).sum(dim=-1).mean()
                    terms += 1
        self.update_center(torch.cat(teacher))
        return total / terms

    @torch.no_grad()
    def update_center(self, teacher: torch.Tensor) -> None:
        """``center <- m * center + (1 - m) * mean(teacher)``, the mean over every process's rows."""
        batch_sum = teacher.float().sum(dim=0, keepdim=True)
        count = torch.full((), float(teacher.shape[0]), device=teacher.device)  # a fill, not a host-to-device copy
        if world_size() > 1:
            dist.all_reduce(batch_sum)
            dist.all_reduce(count)
        self.center.mul_(self.center_momentum).add_(batch_sum / count, alpha=1 - self.center_momentum)
