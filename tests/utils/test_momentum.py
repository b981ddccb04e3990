"""MomentumEncoder: EMA arithmetic, BYOL's cosine tau schedule, stepping only on optimizer steps."""

import pytest
import torch
from torch import nn

from sslkit.utils.momentum import MomentumEncoder, cosine_tau


def test_cosine_tau_start_middle_end():
    assert cosine_tau(0, 100, 0.99) == pytest.approx(0.99)
    assert cosine_tau(50, 100, 0.99) == pytest.approx(0.995)
    assert cosine_tau(100, 100, 0.99) == pytest.approx(1.0)
    assert cosine_tau(250, 100, 0.99) == pytest.approx(1.0)
    assert cosine_tau(25, 100, 0.9, 0.99) == pytest.approx(0.99 - 0.09 * (1 + 2**-0.5) / 2)


def _linear(value: float) -> nn.Linear:
    m = nn.Linear(1, 1, bias=False)
    nn.init.constant_(m.weight, value)
    return m


def test_update_arithmetic_and_target_is_a_frozen_copy():
    online = _linear(0.0)
    enc = MomentumEncoder(online, base_tau=0.9)
    assert all(not p.requires_grad for p in enc.parameters())
    assert enc.encoder[0].weight is not online.weight
    online.weight.data.fill_(1.0)
    enc.update(tau=0.9)
    assert enc.encoder[0].weight.item() == pytest.approx(0.1)
    enc.update(tau=0.9)
    assert enc.encoder[0].weight.item() == pytest.approx(0.19)
    assert online.weight.item() == 1.0  # the online module is untouched


def test_step_updates_once_per_new_global_step_with_scheduled_tau():
    online = _linear(0.0)
    enc = MomentumEncoder(online, base_tau=0.5, final_tau=1.0)
    online.weight.data.fill_(1.0)
    assert not enc.step(global_step=0, total_steps=4)  # no optimizer step yet
    assert enc.encoder[0].weight.item() == 0.0
    assert enc.step(global_step=1, total_steps=4)  # first update uses tau(step 0) = 0.5
    assert enc.tau == pytest.approx(0.5) and enc.encoder[0].weight.item() == pytest.approx(0.5)
    assert not enc.step(global_step=1, total_steps=4)  # accumulation micro-batch: unchanged
    assert enc.encoder[0].weight.item() == pytest.approx(0.5)
    assert enc.step(global_step=3, total_steps=4)  # tau(2 of 4) = 0.75
    assert enc.tau == pytest.approx(0.75) and enc.encoder[0].weight.item() == pytest.approx(0.625)


def test_resume_restores_the_step_and_continues_the_schedule():
    online = _linear(1.0)
    enc = MomentumEncoder(_linear(0.0), base_tau=0.5)
    enc.step(global_step=5, total_steps=10)
    state = enc.state_dict()
    assert int(state["last_step"]) == 5
    resumed = MomentumEncoder(online, base_tau=0.5)
    resumed.load_state_dict(state)
    w = resumed.encoder[0].weight.item()
    assert not resumed.step(global_step=5, total_steps=10)  # same step: nothing happens again
    assert resumed.encoder[0].weight.item() == w
    assert resumed.step(global_step=6, total_steps=10)
    assert resumed.tau == pytest.approx(cosine_tau(5, 10, 0.5))


def test_arguments_are_validated():
    with pytest.raises(ValueError):
        MomentumEncoder(_linear(0.0), base_tau=0.99, final_tau=0.9)
    with pytest.raises(ValueError):
        MomentumEncoder()
    with pytest.raises(ValueError, match="parameters"):
        enc = MomentumEncoder(_linear(0.0))
        enc.online = (_linear(0.0), _linear(0.0))
        enc.update(0.5)


def test_ema_skips_accumulation_micro_batches_in_a_real_fit():
    """With accumulate_grad_batches=2 the target moves after batches 1 and 3 only; it is never optimised."""
    import lightning as L
    from torch.utils.data import DataLoader

    from sslkit.methods import BYOL

    class Recorder(BYOL):
        def on_fit_start(self):
            self.seen = []
            self.opt_ids = {id(p) for g in self.trainer.optimizers[0].param_groups for p in g["params"]}

        def on_train_batch_end(self, outputs, batch, batch_idx):
            super().on_train_batch_end(outputs, batch, batch_idx)
            w = next(self.target.parameters()).detach().clone()
            self.seen.append((self.trainer.global_step, w))

    torch.manual_seed(0)
    model = Recorder(backbone="tiny_cnn", backbone_kwargs={"widths": [4, 8]}, proj_hidden_dim=16, proj_output_dim=8,
                     pred_hidden_dim=16, base_tau=0.5, optimizer=lambda p: torch.optim.SGD(p, lr=0.1))
    first = next(model.target.parameters()).detach().clone()
    data = [([torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)], torch.zeros(4, dtype=torch.long)) for _ in range(4)]
    trainer = L.Trainer(max_epochs=1, accumulate_grad_batches=2, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(model, DataLoader(data, batch_size=None), val_dataloaders=[])
    steps = [s for s, _ in model.seen]
    assert steps == [0, 1, 1, 2]
    weights = [first] + [w for _, w in model.seen]
    moved = [not torch.equal(a, b) for a, b in zip(weights, weights[1:])]
    assert moved == [False, True, False, True]
    assert int(model.target.last_step) == 2
    target_ids = {id(p) for p in model.target.parameters()}
    assert target_ids and not target_ids & model.opt_ids
    assert all(p.grad is None for p in model.target.parameters())
