"""MoCo v2 (queue InfoNCE) and MoCo v3 (in-batch, 2*tau scaled) losses against hand-computed values."""

import math

import pytest
import torch
import torch.nn.functional as F

from sslkit.losses import MoCoV2Loss, MoCoV3Loss


def test_mocov2_one_negative_is_two_way_softmax():
    # cos(q, k) = 1, cos(q, negative) = 0, T = 0.5: logits [2, 0] -> CE = log(1 + e^-2)
    q = torch.tensor([[3.0, 0.0]])
    k = torch.tensor([[1.0, 0.0]])
    queue = torch.tensor([[0.0, 2.0]])
    assert MoCoV2Loss(temperature=0.5)(q, k, queue).item() == pytest.approx(math.log(1 + math.exp(-2)), abs=1e-6)


def test_mocov2_hand_computed_with_two_negatives():
    # q = e1; k at 60 deg (cos .5); negatives cos -1 and 0; T = 1
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[0.5, math.sqrt(3) / 2]])
    queue = torch.tensor([[-1.0, 0.0], [0.0, 1.0]])
    expected = -math.log(math.exp(0.5) / (math.exp(0.5) + math.exp(-1) + math.exp(0)))
    assert MoCoV2Loss(temperature=1.0)(q, k, queue).item() == pytest.approx(expected, abs=1e-6)


def test_mocov2_matches_reference_and_keys_get_no_gradient():
    torch.manual_seed(0)
    q, k, queue = torch.randn(4, 8, requires_grad=True), torch.randn(4, 8, requires_grad=True), torch.randn(16, 8)
    qn, kn, neg = F.normalize(q, dim=1), F.normalize(k, dim=1), F.normalize(queue, dim=1)
    logits = torch.cat([(qn * kn).sum(1, keepdim=True), qn @ neg.T], 1) / 0.2
    ref = F.cross_entropy(logits, torch.zeros(4, dtype=torch.long))
    loss = MoCoV2Loss(0.2)(q, k, queue)
    assert loss.item() == pytest.approx(ref.item(), abs=1e-5)
    loss.backward()
    assert k.grad is None and q.grad.abs().sum() > 0


def test_mocov3_hand_computed_with_2tau_scaling():
    # orthonormal q = k: logits diag 1/T, off-diag 0 -> CE = log(1 + e^(-1/T)); times 2T
    q = torch.eye(2)
    for t in (1.0, 0.5):
        expected = 2 * t * math.log(1 + math.exp(-1 / t))
        assert MoCoV3Loss(temperature=t)(q, q.clone()).item() == pytest.approx(expected, abs=1e-6)
    assert MoCoV3Loss(1.0)(q, q).item() == pytest.approx(0.626523, abs=1e-5)


@pytest.mark.parametrize("cls", [MoCoV2Loss, MoCoV3Loss])
def test_temperature_is_validated(cls):
    with pytest.raises(ValueError, match="temperature"):
        cls(temperature=0.0)
