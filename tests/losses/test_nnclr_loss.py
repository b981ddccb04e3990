"""NNCLR: nearest-neighbour lookup and the NT-Xent loss on the swapped positives."""

import math

import pytest
import torch

from sslkit.losses import NNCLRLoss, NTXentLoss, nearest_neighbour


def test_nearest_neighbour_picks_most_similar_support_row():
    support = torch.tensor([[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    z = torch.tensor([[0.9, 0.1], [0.1, 0.9], [-3.0, 1.0]])
    nn = nearest_neighbour(z, support)
    assert torch.allclose(nn, torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))


def test_hand_computed_value():
    # NN(z1) = NN(z2) = e1, e2 rows; p1 = p2 = e1, e2 rows; T = 1.
    # every anchor: positive cos 1, two negatives cos 0 -> log(1 + 2/e)
    support = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    z = torch.tensor([[0.8, 0.2], [0.3, 0.7]])
    p = torch.eye(2)
    loss = NNCLRLoss(temperature=1.0, gather_distributed=False)(z, z.clone(), p, p.clone(), support)
    assert loss.item() == pytest.approx(math.log(1 + 2 / math.e), abs=1e-6)


def test_equals_ntxent_on_neighbours_and_grad_flows_only_to_predictions():
    torch.manual_seed(0)
    z1, z2 = torch.randn(4, 8, requires_grad=True), torch.randn(4, 8, requires_grad=True)
    p1, p2 = torch.randn(4, 8, requires_grad=True), torch.randn(4, 8, requires_grad=True)
    support = torch.randn(32, 8)
    loss = NNCLRLoss(0.2)(z1, z2, p1, p2, support)
    ntx = NTXentLoss(0.2)
    ref = 0.5 * (ntx(nearest_neighbour(z1, support), p2) + ntx(nearest_neighbour(z2, support), p1))
    assert loss.item() == pytest.approx(ref.item(), abs=1e-5)
    loss.backward()
    assert z1.grad is None and z2.grad is None
    assert p1.grad.abs().sum() > 0 and p2.grad.abs().sum() > 0


def test_temperature_is_validated():
    with pytest.raises(ValueError, match="temperature"):
        NNCLRLoss(temperature=-1.0)
