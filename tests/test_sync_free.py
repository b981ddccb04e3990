"""A training step of a whole ``sslkit fit`` (recipe, every default callback) never makes the host wait for a GPU.

The count is taken on CPU by wrapping the calls that synchronise on a GPU
(benchmarks/sync_counter.py): ``.item()``, ``bool()/float()/int()`` of a
tensor, a host value copied to the device, boolean-mask indexing, collectives,
a DDP wrapper. "Outside logging intervals" means every training step except
those at which Lightning writes its logs (``log_every_n_steps``): there the
logged tensors become numbers, the learning-rate monitor reads the optimizer
and NonFiniteGuard reads its device-side flag, once per interval.
"""

from __future__ import annotations

import collections
import importlib.util
import os
import sys
from functools import partial

import lightning as L
import pytest
import torch

from sslkit.callbacks import NonFiniteError, NonFiniteGuard
from sslkit.methods import SimCLR
from tests.conftest import ROOT, RECIPES


def _audit():
    spec = importlib.util.spec_from_file_location("sync_audit", ROOT / "benchmarks" / "sync_audit.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["sync_audit"] = module
    spec.loader.exec_module(module)
    return module


class ReadsLossEveryStep(L.Callback):
    """The control: a callback that reads the loss on the host after every step (as a naive logger would)."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.last = float(outputs["loss"])


def _fit(tmp_path, recipe="cifar10/simclr.yaml", *extra):
    audit = _audit()
    return audit.audit_fit(audit.fit_args(RECIPES / "pretrain" / recipe, tmp_path, steps=9, full_model=False,
                                          log_every=4, extra=list(extra)))


def _total(steps):
    total = collections.Counter()
    for s in steps:
        total.update(s)
    return total


@pytest.mark.parametrize("recipe", ["cifar10/simclr.yaml", "cifar10/byol.yaml"])
def test_fit_steps_make_no_sync_outside_logging_steps(tmp_path, recipe):
    cb = _fit(tmp_path, recipe)
    # 9 steps, the first one skipped (set-up), logging at steps 4 and 8 (log_every_n_steps=4)
    assert len(cb.steps) == 6 and len(cb.logging_steps) == 2
    assert _total(cb.steps) == {}
    logged = _total(cb.logging_steps)
    # the counter does see the calls of a logging step: Lightning turns the logged loss into a number there
    assert any(k.endswith(" item") and "lightning" in k for k in logged), logged


def test_added_sync_and_ddp_wrapper_are_counted(tmp_path):
    """Controls: a callback reading the loss every step, and DDP at world size 1, are both caught per step."""
    saved = dict(os.environ)  # an in-process DDP run sets LOCAL_RANK, MASTER_PORT, ...: a later child DDP launch
    try:                      # that inherits LOCAL_RANK=0 takes itself for rank 0 of an external launch and waits forever
        cb = _fit(tmp_path, "cifar10/simclr.yaml", "--trainer.callbacks+=tests.test_sync_free.ReadsLossEveryStep",
                  "--trainer.strategy=ddp")
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        os.environ.clear()
        os.environ.update(saved)
    total = _total(cb.steps)
    line = ReadsLossEveryStep.on_train_batch_end.__code__.co_firstlineno + 1
    ddp = [k for k in total if "DDP forward" in k]
    assert len(cb.steps) == 6 and len(ddp) == 1
    assert total == {f"tests/test_sync_free.py:{line} __float__": 6, ddp[0]: 6}, total


# ---------------------------------------------------------------------- NonFiniteGuard, deferred and immediate
class NaNAtStep(SimCLR):
    def training_loss(self, views):
        out = super().training_loss(views)
        if self.trainer.global_step == 2:
            out["loss"] = out["loss"] * float("nan")
        return out


class _Weights(L.Callback):
    def __init__(self):
        self.finite_after = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.finite_after[batch_idx] = all(bool(torch.isfinite(p).all()) for p in pl_module.parameters())


def _guarded_fit(digits, tmp_path, guard, steps=8, log_every=5):
    L.seed_everything(0)
    model = NaNAtStep(backbone_kwargs={"widths": [8, 16]}, proj_hidden_dim=32, proj_output_dim=16, num_classes=10,
                      optimizer=partial(torch.optim.AdamW, lr=3e-3))
    spy = _Weights()
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=steps, limit_val_batches=0, logger=False,
                        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                        default_root_dir=tmp_path, callbacks=[guard, spy], log_every_n_steps=log_every)
    with pytest.raises(NonFiniteError) as err:
        trainer.fit(model, digits)
    return str(err.value), spy.finite_after


def test_guard_reads_its_device_flag_at_the_logging_step_and_names_the_bad_step(tmp_path, digits):
    message, finite_after = _guarded_fit(digits, tmp_path, NonFiniteGuard())
    # the NaN loss of step 2 is found when the flag is read, at the logging step (the 5th batch, index 4)
    assert "non-finite loss at global step 2 (found at step 5, epoch 0)" in message
    # it raised in its own on_train_batch_end of batch 4 (before the spy's); weights went non-finite at step 2
    assert sorted(finite_after) == [0, 1, 2, 3] and finite_after[1] and not finite_after[2]


def test_guard_reading_every_step_stops_before_the_bad_optimizer_step(tmp_path, digits):
    message, finite_after = _guarded_fit(digits, tmp_path, NonFiniteGuard(check_every_n_steps=1))
    assert "non-finite loss at global step 2 (epoch 0)" in message
    assert sorted(finite_after) == [0, 1]  # stopped inside step 2, before its optimizer step


def test_guard_rejects_bad_interval():
    with pytest.raises(ValueError, match="check_every_n_steps"):
        NonFiniteGuard(check_every_n_steps=0)


def test_progress_bar_shows_the_loss_read_at_logging_steps_only():
    from lightning.pytorch.callbacks import TQDMProgressBar

    from sslkit.callbacks.speed import SyncFreeTQDMProgressBar

    bar = SyncFreeTQDMProgressBar()
    assert isinstance(bar, TQDMProgressBar)
    connector = type("C", (), {"should_update_logs": False})()
    trainer = type("T", (), {"training": True, "_logger_connector": connector, "loggers": [],
                             "callback_metrics": {"train/loss": torch.tensor(1.5)}, "progress_bar_metrics": {}})()
    assert bar.get_metrics(trainer, None) == {}  # a step between logging steps: nothing is read
    connector.should_update_logs = True
    assert bar.get_metrics(trainer, None) == {"train/loss": 1.5}
    trainer.callback_metrics = {"train/loss": torch.tensor(0.5)}
    connector.should_update_logs = False
    assert bar.get_metrics(trainer, None) == {"train/loss": 1.5}  # kept until the next logging step
