import math

import pytest
import torch

from sslkit.utils import WarmupCosineLR, split_weight_decay


def make(warmup_epochs=2.0, start=0.0, end=0.0):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = WarmupCosineLR(opt, warmup_epochs=warmup_epochs, warmup_start_factor=start, min_lr_factor=end)
    sched.bind(total_steps=100, steps_per_epoch=10)
    return opt, sched


def lrs(opt, sched, n):
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_warmup_then_cosine_values():
    opt, sched = make(warmup_epochs=2.0)  # 20 warm-up steps of 100
    seq = lrs(opt, sched, 101)
    assert seq[0] == pytest.approx(0.0)
    assert seq[10] == pytest.approx(0.5)  # halfway through warm-up
    assert seq[20] == pytest.approx(1.0)  # peak
    assert seq[60] == pytest.approx(0.5 * (1 + math.cos(math.pi * 40 / 80)))  # = 0.5, middle of the decay
    assert seq[100] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(seq[20:], seq[21:]))  # monotone decay


def test_start_and_floor_factors():
    opt, sched = make(warmup_epochs=1.0, start=0.1, end=0.01)
    seq = lrs(opt, sched, 101)
    assert seq[0] == pytest.approx(0.1)
    assert seq[100] == pytest.approx(0.01)


def test_state_dict_round_trip():
    opt, sched = make()
    lrs(opt, sched, 37)
    opt2, sched2 = make()
    sched2.load_state_dict(sched.state_dict())
    assert sched2.get_lr() == pytest.approx(sched.get_lr())


def test_invalid_arguments():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError):
        WarmupCosineLR(opt, warmup_epochs=-1)
    with pytest.raises(ValueError):
        WarmupCosineLR(opt, min_lr_factor=2.0)


def test_split_weight_decay_exempts_biases_and_norms():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    decay, no_decay = split_weight_decay(model)
    assert [p.shape for p in decay["params"]] == [(3, 4), (2, 3)]
    assert len(no_decay["params"]) == 4 and no_decay["weight_decay"] == 0.0
