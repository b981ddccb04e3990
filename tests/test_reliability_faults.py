"""The fault matrix of docs/reliability.md: one test (and its control) per fault a long job meets.

Rows: 1 killed at any moment, 2 corrupt / truncated checkpoint, 3 full disk or unwritable folder,
4 a dead rank under DDP, 5 a skipped fp16 step, 6 bad data mid-run, 7 long runs hold (RSS, files, state).
"""

from __future__ import annotations

from functools import partial

import lightning as L
import pytest
import torch
from lightning.pytorch.plugins import MixedPrecision

from sslkit.methods import MoCoV2
from sslkit.utils import WarmupCosineLR
from sslkit.utils.momentum import StepTracker

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# ---------------------------------------------------------------- 5. a skipped optimizer step under fp16
class OverflowAt(MoCoV2):
    """MoCo v2 whose loss is scaled by 1e6 at one step: finite, but its fp16 gradients overflow."""

    def __init__(self, overflow_step: int = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        self.overflow_step = overflow_step

    def training_loss(self, views):
        out = super().training_loss(views)
        if self.trainer.global_step == self.overflow_step:
            out["loss"] = out["loss"] * 1e6
        return out


class StateSpy(L.Callback):
    """Copies weights, EMA target, queue, lr and loss scale before and after every batch."""

    def __init__(self) -> None:
        self.before: dict[int, dict] = {}
        self.after: dict[int, dict] = {}

    @staticmethod
    def _state(trainer, pl_module) -> dict:
        return {"online": [p.detach().clone() for p in pl_module.backbone.parameters()],
                "target": [p.detach().clone() for p in pl_module.target.parameters()],
                "target_step": int(pl_module.target.last_step),
                "queue": pl_module.queue.features.clone(), "ptr": int(pl_module.queue.ptr),
                "lr": trainer.optimizers[0].param_groups[0]["lr"],
                "sched": trainer.lr_scheduler_configs[0].scheduler.last_epoch,
                "scale": trainer.precision_plugin.scaler.get_scale()}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.before[batch_idx] = self._state(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.after[batch_idx] = self._state(trainer, pl_module)


def _moved(a: dict, b: dict) -> dict[str, bool]:
    same = lambda x, y: all(torch.equal(u, v) for u, v in zip(x, y))  # noqa: E731
    return {"online": not same(a["online"], b["online"]), "target": not same(a["target"], b["target"]),
            "queue": not torch.equal(a["queue"], b["queue"]) or a["ptr"] != b["ptr"],
            "lr": a["lr"] != b["lr"] or a["sched"] != b["sched"]}


def _fp16_fit(tmp_path, digits, steps: int = 4) -> StateSpy:
    """4 steps of a tiny MoCo v2 under Lightning's 16-mixed plugin with a CPU GradScaler (step 2 overflows)."""
    L.seed_everything(0)
    model = OverflowAt(backbone_kwargs={"widths": [8, 16]}, proj_hidden_dim=32, proj_output_dim=16, queue_size=256,
                       num_classes=10, optimizer=partial(torch.optim.AdamW, lr=3e-3),
                       lr_scheduler=partial(WarmupCosineLR, warmup_epochs=1))
    spy = StateSpy()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8, growth_interval=1000)  # only the injected step overflows
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=steps, limit_val_batches=0, logger=False,
                        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                        default_root_dir=tmp_path, callbacks=[spy],
                        plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)])
    trainer.fit(model, digits)
    return spy


def test_skipped_fp16_step_moves_nothing(tmp_path, digits):
    """The GradScaler skips the overflowing step: weights, EMA target, queue and lr schedule all stay put."""
    spy = _fp16_fit(tmp_path, digits)
    bad_before, bad_after = spy.before[2], spy.after[2]
    assert bad_after["scale"] < bad_before["scale"], "the injected overflow did not make the scaler skip"
    assert _moved(bad_before, bad_after) == {"online": False, "target": False, "queue": False, "lr": False}
    assert bad_after["target_step"] == 3  # the skipped step is consumed, so the next step updates once
    for normal in (1, 3):  # ordinary steps move all four
        assert spy.after[normal]["scale"] == spy.before[normal]["scale"]
        assert _moved(spy.before[normal], spy.after[normal]) == {"online": True, "target": True, "queue": True,
                                                                 "lr": True}


def test_skipped_fp16_step_control_without_skip_detection(tmp_path, digits, monkeypatch):
    """Control: without sslkit's skip detection the same run moves the EMA target, the queue and the lr
    on the skipped step (only the weights stay, thanks to the scaler) -- so the test above can fail."""
    monkeypatch.setattr(StepTracker, "skipped", lambda self, optimizer=None: False)
    spy = _fp16_fit(tmp_path, digits)
    assert spy.after[2]["scale"] < spy.before[2]["scale"]
    assert _moved(spy.before[2], spy.after[2]) == {"online": False, "target": True, "queue": True, "lr": True}
