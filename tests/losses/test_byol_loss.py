"""BYOL's normalised MSE against closed-form values."""

import math

import pytest
import torch

from sslkit.losses import BYOLLoss


def test_limits_identical_orthogonal_opposite():
    loss = BYOLLoss()
    p = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
    assert loss(p, 2 * p).item() == pytest.approx(0.0, abs=1e-6)  # same direction, any scale
    assert loss(p, -p).item() == pytest.approx(4.0, abs=1e-6)
    assert loss(p, torch.tensor([[0.0, 1.0], [5.0, 0.0]])).item() == pytest.approx(2.0, abs=1e-6)


def test_hand_computed_value_and_batch_mean():
    # row 0: cos 45 deg -> 2 - sqrt(2); row 1: identical -> 0; mean of the two
    p = torch.tensor([[1.0, 0.0], [1.0, 2.0]])
    z = torch.tensor([[1.0, 1.0], [2.0, 4.0]])
    assert BYOLLoss()(p, z).item() == pytest.approx((2 - math.sqrt(2)) / 2, abs=1e-6)


def test_equals_squared_distance_of_unit_vectors_and_stops_target_gradient():
    p = torch.randn(5, 7, requires_grad=True)
    z = torch.randn(5, 7, requires_grad=True)
    loss = BYOLLoss()(p, z)
    ref = (torch.nn.functional.normalize(p, dim=1) - torch.nn.functional.normalize(z, dim=1)).pow(2).sum(1).mean()
    assert loss.item() == pytest.approx(ref.item(), abs=1e-5)
    loss.backward()
    assert p.grad is not None and p.grad.abs().sum() > 0
    assert z.grad is None


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="one shape"):
        BYOLLoss()(torch.randn(3, 4), torch.randn(3, 5))
