"""Fail-fast guards: non-finite losses/gradients/weights, and view sizes the backbone cannot take."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn


class NonFiniteError(RuntimeError):
    """A loss, gradient or weight became NaN or infinite."""


def _all_finite(tensors: Iterable[torch.Tensor]) -> bool:
    flags = [torch.isfinite(t).all() for t in tensors if t is not None and t.is_floating_point()]
    return bool(torch.stack(flags).all()) if flags else True


def _any_nonfinite(tensors: Iterable[torch.Tensor]) -> torch.Tensor | None:
    """A 0-d bool tensor, on the device, true if any element of ``tensors`` is NaN or infinite (no host sync).

    One fused max-norm per device and dtype (``torch._foreach_norm(ord=inf)`` propagates NaN and never
    overflows); ``None`` when there is no floating-point tensor.
    """
    groups: dict[torch.device, list[torch.Tensor]] = {}
    for t in tensors:
        if t is not None and t.is_floating_point() and t.numel():
            groups.setdefault(t.device, []).append(t.detach())
    flags = [~torch.stack(torch._foreach_norm(ts, float("inf"))).isfinite().all() for ts in groups.values()]
    if not flags:
        return None
    first = flags[0]
    for f in flags[1:]:
        first = first | f.to(first.device, non_blocking=True)
    return first


def _batch_finite(batch: Any) -> bool:
    if isinstance(batch, torch.Tensor):
        return not batch.is_floating_point() or bool(torch.isfinite(batch).all())
    if isinstance(batch, dict):
        return all(_batch_finite(v) for v in batch.values())
    if isinstance(batch, (list, tuple)):
        return all(_batch_finite(v) for v in batch)
    return True


_KINDS = ("loss", "gradients", "weights after the optimizer step")


def _logging_step(trainer: L.Trainer) -> bool:
    """Whether this training batch is one Lightning writes its logs at (``log_every_n_steps``)."""
    connector = getattr(trainer, "_logger_connector", None)
    if connector is not None and hasattr(connector, "should_update_logs"):
        return bool(connector.should_update_logs)
    n = getattr(trainer, "log_every_n_steps", 50) or 50
    return (trainer.global_step + 1) % n == 0


class NonFiniteGuard(L.Callback):
    """Stops the run, or skips the step, when the loss, the gradients or the weights are NaN/Inf.

    The checks run on the device every step; reading their result is a
    host-device synchronisation, so with ``policy="stop"`` it is read only at
    Lightning's logging steps (``trainer.log_every_n_steps``, or every
    ``check_every_n_steps``), before any checkpoint is written, before
    validation and at the end of training: training never waits for the GPU
    in between. The error names the first step that went bad (its loss, its
    gradients, or its weights after the optimizer step) and a checkpoint holding
    non-finite tensors is never written, so the newest checkpoint is always
    one from before that step. ``check_every_n_steps=1`` reads every step and
    raises before the bad step's optimizer step (weights in memory stay finite),
    at the cost of one synchronisation per step.

    ``policy="skip"`` must decide within the step: it reads every step (like a
    ``GradScaler``), drops the bad step's gradients (the optimizer leaves the
    weights untouched) and restores the buffers the bad forward pass changed
    (BatchNorm statistics, queues; sslkit methods also hold their momentum
    encoders and learning-rate schedule on a skipped step), up to
    ``max_consecutive_skips`` in a row, then stops. Weights that become
    non-finite after a step (e.g. an absurd learning rate) always stop the run.
    Under fp16 with a gradient scaler, infinite gradients are the scaler's
    business (it skips those steps) and only the loss is checked.

    Args:
        policy: ``stop`` or ``skip``.
        max_consecutive_skips: with ``skip``, stop after this many bad steps in a row.
        check_weights: check weights and buffers after every optimizer step (one fused pass on the device).
        check_every_n_steps: with ``stop``, read the device-side result every this many steps;
            ``None`` (default): at Lightning's logging steps.
    """

    def __init__(self, policy: Literal["stop", "skip"] = "stop", max_consecutive_skips: int = 10,
                 check_weights: bool = True, check_every_n_steps: int | None = None) -> None:
        if policy not in ("stop", "skip"):
            raise ValueError(f"policy must be 'stop' or 'skip', got {policy!r}")
        if max_consecutive_skips < 1:
            raise ValueError("max_consecutive_skips must be >= 1")
        if check_every_n_steps is not None and check_every_n_steps < 1:
            raise ValueError("check_every_n_steps must be >= 1 (or null: at Lightning's logging steps)")
        self.policy, self.max_consecutive_skips, self.check_weights = policy, max_consecutive_skips, check_weights
        self.check_every_n_steps = check_every_n_steps
        self.skipped_steps = 0
        self._consecutive = 0
        self._loss_finite = True
        self._batch: Any = None
        self._buffers: dict[str, torch.Tensor] | None = None
        self._first_bad: torch.Tensor | None = None  # on the device: -1, or 3 * global_step + kind of the first bad step

    @property
    def _immediate(self) -> bool:
        return self.policy == "skip" or self.check_every_n_steps == 1

    def _message(self, what: str, trainer: L.Trainer, pl_module: L.LightningModule, step: int | None = None) -> str:
        lrs = [float(g["lr"]) for opt in trainer.optimizers for g in opt.param_groups]
        causes = []
        if self._batch is not None and not _batch_finite(self._batch):
            causes.append("the input batch itself contains NaN/Inf (bad data or augmentation)")
        causes += [f"a learning rate too high (current lr {max(lrs) if lrs else 'n/a':.3g})",
                   f"fp16 overflow (precision is {trainer.precision!r}; try bf16-mixed or 32-true)",
                   "bad input data (NaN/Inf pixels, empty crops, wrong normalisation)"]
        when = (f"global step {trainer.global_step} (epoch {trainer.current_epoch})" if step is None else
                f"global step {step} (found at step {trainer.global_step}, epoch {trainer.current_epoch})")
        return (f"non-finite {what} at {when} in "
                f"{type(pl_module).__name__}. Likely causes: " + "; ".join(causes) + ". The run stopped before "
                "any checkpoint with non-finite weights was written; NonFiniteGuard(policy='skip') skips such steps.")

    def _stop(self, what: str, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        raise NonFiniteError(self._message(what, trainer, pl_module))

    def _record(self, bad: torch.Tensor | None, kind: int, trainer: L.Trainer) -> None:
        """Remember, on the device, the first step and kind that went bad (no host sync)."""
        if bad is None:
            return
        if self._first_bad is None or self._first_bad.device != bad.device:
            self._first_bad = torch.full((), -1, dtype=torch.long, device=bad.device)
        code = 3 * trainer.global_step + kind
        self._first_bad = torch.where((self._first_bad < 0) & bad, code, self._first_bad)

    def check(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Read the device-side result (one synchronisation) and raise :class:`NonFiniteError` if a step went bad."""
        if self._first_bad is None:
            return
        code = int(self._first_bad)
        if code >= 0:
            step, kind = divmod(code, 3)
            raise NonFiniteError(self._message(_KINDS[kind], trainer, pl_module, step))

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        self._loss_finite = True
        if self._immediate:
            self._batch = batch
        if self.policy == "skip":
            # every buffer, integer ones too (a queue's write pointer, a momentum encoder's step count)
            self._buffers = {k: b.detach().clone() for k, b in pl_module.named_buffers()}

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        if not self._immediate:
            self._record(_any_nonfinite([loss]), 0, trainer)
            return
        self._loss_finite = bool(torch.isfinite(loss.detach()).all())
        if not self._loss_finite and self.policy == "stop":
            self._stop("loss", trainer, pl_module)

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule,
                                 optimizer: torch.optim.Optimizer) -> None:
        scaler = getattr(trainer.precision_plugin, "scaler", None)
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if not self._immediate:
            if scaler is None:
                self._record(_any_nonfinite(grads), 1, trainer)
            return
        grads_finite = scaler is not None or _all_finite(grads)
        if self._loss_finite and grads_finite:
            self._consecutive = 0
            return
        what = "gradients" if self._loss_finite else "loss"
        if self.policy == "stop":
            self._stop(what, trainer, pl_module)
        self._consecutive += 1
        self.skipped_steps += 1
        if self._consecutive > self.max_consecutive_skips:
            self._stop(f"{what} ({self._consecutive} steps in a row)", trainer, pl_module)
        optimizer.zero_grad(set_to_none=True)  # parameters without gradients are left untouched
        if self._buffers is not None:
            with torch.no_grad():
                for k, b in pl_module.named_buffers():
                    if k in self._buffers:
                        b.copy_(self._buffers[k])
        rank_zero_warn(self._message(what, trainer, pl_module).split(". The run")[0] + f"; step skipped "
                       f"({self.skipped_steps} so far).")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._batch, self._buffers = None, None
        tensors = list(pl_module.parameters()) + list(pl_module.buffers())
        if self._immediate:
            if self.check_weights and not _all_finite(tensors):
                self._stop("weights after the optimizer step", trainer, pl_module)
            return
        if self.check_weights:
            self._record(_any_nonfinite(tensors), 2, trainer)
        n = self.check_every_n_steps
        if (trainer.global_step % n == 0) if n else _logging_step(trainer):
            self.check(trainer, pl_module)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.check(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.check(trainer, pl_module)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        self.check(trainer, pl_module)  # names the step that went bad, if one did
        state = checkpoint.get("state_dict", {})
        bad = [k for k, v in state.items() if isinstance(v, torch.Tensor) and v.is_floating_point()
               and not bool(torch.isfinite(v).all())]
        if bad:
            raise NonFiniteError(f"refusing to write a checkpoint with non-finite tensors {bad[:5]} at global step "
                                 f"{trainer.global_step} in {type(pl_module).__name__}")

    def state_dict(self) -> dict[str, int]:
        return {"skipped_steps": self.skipped_steps}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self.skipped_steps = int(state_dict.get("skipped_steps", 0))


class ViewSizeCheck(L.Callback):
    """Before fitting, embeds one dummy batch at every configured view size.

    A backbone that cannot take a size (a ViT built for 224 px fed 16 px views,
    a CNN whose feature map shrinks to nothing) fails here, before any file is
    written, with an error naming the size and the backbone, instead of
    minutes into training. Also checks that ``embed`` returns ``(B, num_features)``.
    Uses the DataModule's ``views`` (objects with a ``size``) and channel count
    (``len(mean)``); does nothing for DataModules without views.
    """

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        dm = trainer.datamodule
        views = getattr(dm, "views", None)
        if stage != "fit" or not views or not hasattr(pl_module, "embed"):
            return
        channels = len(getattr(dm, "mean", (0, 0, 0)))
        name = getattr(pl_module, "backbone_name", type(getattr(pl_module, "backbone", pl_module)).__name__)
        was_training = pl_module.training
        pl_module.eval()
        try:
            for size in sorted({int(v.size) for v in views if hasattr(v, "size")}):
                # the parameters' device: under DDP, setup runs before the strategy moves the model
                x = torch.zeros(2, channels, size, size, device=next(pl_module.parameters()).device)
                try:
                    with torch.no_grad():
                        out = pl_module.embed(x)
                except Exception as e:
                    raise ValueError(
                        f"backbone {name!r} cannot embed {size}x{size} views (data views of size {size}): "
                        f"{type(e).__name__}: {e}. Use a larger view size or a backbone that accepts {size} px inputs "
                        f"(a timm ViT needs backbone_kwargs img_size={size} or dynamic_img_size=true)."
                    ) from e
                expected = getattr(pl_module, "num_features", None)
                if out.ndim != 2 or (expected is not None and out.shape[1] != expected):
                    raise ValueError(f"backbone {name!r} returned shape {tuple(out.shape)} for {size}x{size} views; "
                                     f"expected (2, num_features={expected})")
        finally:
            pl_module.train(was_training)


#: Text of the errors a process gets when another process of the job died (gloo, NCCL, the TCP store).
PEER_LOST = ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "NCCL communicator was aborted",
             "DistNetworkError", "DistBackendError", "remote worker crashing", "Socket Timeout")


class RankFailureReport(L.Callback):
    """Names the failing process of a distributed run, the moment it fails.

    When one process raises, Lightning tears the job down: the others get a
    "connection closed" error from their next collective and rank 0 kills the
    remaining children, often before a child has printed its traceback. This
    callback prints one line to stderr from ``on_exception`` (before any
    teardown): the failing process says ``process rank R of N failed at global
    step S: <error>``; a process that only lost its peers says so and points to
    that line. Single-process runs print nothing (the CLI reports the error).
    """

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if trainer.world_size <= 1 or isinstance(exception, KeyboardInterrupt):
            return
        import sys

        where = f"process rank {trainer.global_rank} of {trainer.world_size}"
        chain, e = [], exception
        while e is not None and e not in chain:
            chain.append(e)
            e = e.__cause__ or e.__context__
        text = " ".join(f"{type(c).__name__} {c}" for c in chain)
        first = str(exception).strip().splitlines()[0][:200] if str(exception).strip() else ""
        if any(p in text for p in PEER_LOST):
            line = (f"{where} stopped at global step {trainer.global_step}: it lost the connection to another "
                    f"process, which failed or was killed (that process's 'failed' line above names it; if there is "
                    f"none, it was killed: look for an out-of-memory kill). Every process exits.")
        else:
            line = (f"{where} failed at global step {trainer.global_step} (epoch {trainer.current_epoch}): "
                    f"{type(exception).__name__}: {first}. The other processes stop at their next collective.")
        print(f"sslkit: error: {line}", file=sys.stderr, flush=True)
