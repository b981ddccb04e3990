"""Domain losses against hand-computed values."""

import math

import pytest
import torch

from sslkit.losses import CORALLoss, GradientReversal, MMDLoss, grad_reverse


def test_gradient_reversal_flips_and_scales():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = grad_reverse(x, 0.5)
    assert torch.equal(y, x.detach())  # identity forward
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.allclose(x.grad, torch.tensor([-0.5, -1.0, -1.5]))
    x.grad = None
    GradientReversal(2.0)(x).sum().backward()
    assert torch.allclose(x.grad, torch.full((3,), -2.0))
    with pytest.raises(ValueError):
        GradientReversal(-1.0)


def test_coral_hand_computed():
    # source: (0,0),(2,0) -> cov [[2,0],[0,0]]; target: (0,0),(0,2) -> cov [[0,0],[0,2]]
    s = torch.tensor([[0.0, 0.0], [2.0, 0.0]])
    t = torch.tensor([[0.0, 0.0], [0.0, 2.0]])
    # ||diag(2,-2)||_F^2 / (4 * 2^2) = 8 / 16
    assert CORALLoss()(s, t).item() == pytest.approx(0.5)
    assert CORALLoss()(s, s + 5.0).item() == pytest.approx(0.0)  # shifts do not matter
    with pytest.raises(ValueError):
        CORALLoss()(s[:1], t)


def test_mmd_hand_computed_single_bandwidth():
    s = torch.tensor([[0.0], [1.0]])
    t = torch.tensor([[3.0]])
    loss = MMDLoss(bandwidths=[1.0], base=None)(s, t)
    k = lambda d2: math.exp(-d2 / 2)  # noqa: E731
    kss = (2 * k(0) + 2 * k(1)) / 4
    ktt = k(0)
    kst = (k(9) + k(4)) / 2
    assert loss.item() == pytest.approx(kss + ktt - 2 * kst, rel=1e-6)


def test_mmd_multi_bandwidth_is_sum_and_zero_for_identical():
    s = torch.tensor([[0.0], [1.0]])
    t = torch.tensor([[3.0]])
    both = MMDLoss(bandwidths=[1.0, 2.0], base=None)(s, t)
    one = MMDLoss(bandwidths=[1.0], base=None)(s, t) + MMDLoss(bandwidths=[2.0], base=None)(s, t)
    assert both.item() == pytest.approx(one.item(), rel=1e-6)
    x = torch.randn(8, 4)
    assert MMDLoss()(x, x.clone()).item() == pytest.approx(0.0, abs=1e-6)
    assert MMDLoss()(x, x + 3).item() > 0.1
    with pytest.raises(ValueError):
        MMDLoss(bandwidths=[0.0])
