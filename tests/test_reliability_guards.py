"""NonFiniteGuard, CollapseMonitor and the collapse metrics."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from sslkit.callbacks import CollapseMonitor, NonFiniteError, NonFiniteGuard
from sslkit.metrics import effective_rank, embedding_std
from sslkit.methods import SimCLR


class NaNAtStep(SimCLR):
    """SimCLR whose loss is NaN at one optimizer step (a stand-in for any divergence)."""

    def __init__(self, nan_step: int = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        self.nan_step = nan_step

    def training_loss(self, views):
        out = super().training_loss(views)
        if self.trainer.global_step == self.nan_step:
            out["loss"] = out["loss"] * float("nan")
        return out


def _model(cls=SimCLR, lr=3e-3, **kw):
    from functools import partial

    return cls(backbone_kwargs={"widths": [8, 16]}, proj_hidden_dim=32, proj_output_dim=16, num_classes=10,
               optimizer=partial(torch.optim.AdamW, lr=lr), **kw)


def _trainer(tmp_path, callbacks, steps=4):
    return L.Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=steps, limit_val_batches=0, logger=False,
                     enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                     callbacks=callbacks)


def _ckpt(tmp_path):
    return ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, every_n_train_steps=1)


def _finite(path):
    return all(torch.isfinite(v).all() for v in torch.load(path, weights_only=True)["state_dict"].values()
               if v.is_floating_point())


def test_nan_loss_stops_with_message_and_last_ckpt_stays_finite(tmp_path, digits):
    L.seed_everything(0)
    model = _model(NaNAtStep)
    with pytest.raises(NonFiniteError, match=r"non-finite loss at global step 2 .* in NaNAtStep.*learning rate.*fp16"):
        _trainer(tmp_path, [NonFiniteGuard(), _ckpt(tmp_path)]).fit(model, digits)
    last = tmp_path / "ckpt" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 2 and _finite(last)


def test_huge_lr_stops_before_a_nonfinite_checkpoint(tmp_path, digits):
    L.seed_everything(0)
    with pytest.raises(NonFiniteError, match="non-finite"):
        _trainer(tmp_path, [NonFiniteGuard(), _ckpt(tmp_path)], steps=6).fit(_model(lr=1e30), digits)
    last = tmp_path / "ckpt" / "last.ckpt"
    assert not last.exists() or _finite(last)


def test_huge_lr_without_guard_writes_nonfinite_checkpoint(tmp_path, digits):
    """Control: the scenario above really produces a non-finite last.ckpt when unguarded."""
    L.seed_everything(0)
    _trainer(tmp_path, [_ckpt(tmp_path)], steps=6).fit(_model(lr=1e30), digits)
    assert not _finite(tmp_path / "ckpt" / "last.ckpt")


class _Spy(L.Callback):
    def __init__(self):
        self.before, self.after = {}, {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.before[trainer.global_step] = {k: v.clone() for k, v in pl_module.state_dict().items()}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.after[batch_idx] = {k: v.clone() for k, v in pl_module.state_dict().items()}


def test_skip_policy_leaves_weights_and_buffers_untouched(tmp_path, digits):
    L.seed_everything(0)
    guard, spy = NonFiniteGuard(policy="skip"), _Spy()
    with pytest.warns(UserWarning, match="step skipped"):
        _trainer(tmp_path, [guard, spy]).fit(_model(NaNAtStep), digits)
    assert guard.skipped_steps == 1
    before, after = spy.before[2], spy.after[2]
    changed = [k for k in before if k.endswith(("weight", "bias", "running_mean", "running_var"))
               and not torch.equal(before[k], after[k])]
    assert changed == []  # the NaN step changed nothing (BatchNorm statistics restored)
    assert any(not torch.equal(spy.before[1][k], spy.after[1][k]) for k in before)  # normal steps do train
    assert all(torch.isfinite(v).all() for v in spy.after[3].values() if v.is_floating_point())


def test_guard_refuses_to_save_nonfinite_state():
    ckpt = {"state_dict": {"w": torch.tensor([1.0, float("inf")])}}
    trainer = type("T", (), {"global_step": 7})()
    with pytest.raises(NonFiniteError, match="refusing to write a checkpoint"):
        NonFiniteGuard().on_save_checkpoint(trainer, torch.nn.Linear(1, 1), ckpt)


def test_guard_validates_policy():
    with pytest.raises(ValueError, match="policy"):
        NonFiniteGuard(policy="ignore")


# ---------------------------------------------------------------------- collapse
def test_collapse_metrics_closed_form():
    z = torch.ones(100, 64) * torch.randn(1, 64)
    assert embedding_std(z).item() == pytest.approx(0.0, abs=1e-6)
    assert effective_rank(z).item() == pytest.approx(1.0, abs=1e-3)
    g = torch.randn(2000, 64, generator=torch.Generator().manual_seed(0))
    assert embedding_std(g).item() == pytest.approx(1 / math.sqrt(64), rel=0.05)
    assert 0.9 * 64 < effective_rank(g).item() <= 64
    # two orthogonal directions with equal energy: RankMe = 2
    e = torch.zeros(10, 4)
    e[:5, 0], e[5:, 1] = 1.0, 1.0
    assert effective_rank(e).item() == pytest.approx(2.0, abs=1e-3)


def _validate(model, digits, monitor):
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[monitor], limit_val_batches=2)
    return trainer.validate(model, digits, verbose=False)[0]


def test_collapse_monitor_flags_constant_encoder(digits):
    model = _model()
    model.embed = lambda x: torch.ones(x.shape[0], 16)
    monitor = CollapseMonitor()
    with pytest.warns(UserWarning, match="representation collapse suspected in SimCLR"):
        metrics = _validate(model, digits, monitor)
    assert metrics["collapse/std"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["collapse/rank"] == pytest.approx(1.0, abs=1e-3)


def test_collapse_monitor_quiet_on_gaussian_features(digits, recwarn):
    model = _model()
    model.embed = lambda x: torch.randn(x.shape[0], 16)
    metrics = _validate(model, digits, CollapseMonitor())
    assert metrics["collapse/std"] == pytest.approx(0.25, rel=0.1)
    assert metrics["collapse/rank"] > 0.9 * 16
    assert not [w for w in recwarn if "collapse" in str(w.message)]
