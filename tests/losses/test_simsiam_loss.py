import pytest
import torch

from sslkit.losses import SimSiamLoss


def test_identical_vectors_give_minus_one():
    z = torch.randn(5, 7)
    assert SimSiamLoss()(z, z * 3.0, z, z).item() == pytest.approx(-1.0, abs=1e-6)


def test_hand_computed_value():
    p_a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    p_b = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    z_a = torch.tensor([[0.0, 2.0], [1.0, 0.0]])
    z_b = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    # D(p_a, z_b) = -(1 + 0) / 2; D(p_b, z_a) = -(1/sqrt(2) + 1) / 2
    expected = (-(1 + 0) / 2 - (2**-0.5 + 1) / 2) / 2
    assert SimSiamLoss()(p_a, p_b, z_a, z_b).item() == pytest.approx(expected, abs=1e-6)


def test_stop_gradient_on_targets():
    p_a, p_b, z_a, z_b = (torch.randn(4, 3, requires_grad=True) for _ in range(4))
    SimSiamLoss()(p_a, p_b, z_a, z_b).backward()
    assert z_a.grad is None and z_b.grad is None
    assert p_a.grad.abs().sum() > 0 and p_b.grad.abs().sum() > 0


def test_validates():
    with pytest.raises(ValueError):
        SimSiamLoss(eps=0)
    with pytest.raises(ValueError):
        SimSiamLoss()(torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 2))
