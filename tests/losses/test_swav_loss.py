import math

import pytest
import torch

from sslkit.losses import SwAVLoss


def test_hand_computed_value_with_uniform_codes():
    # equal scores -> uniform codes 1/K; predictions from scores s: loss = mean CE(uniform, softmax(s / t))
    k = 4
    s_a = torch.zeros(2, k)
    s_b = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    loss = SwAVLoss(temperature=1.0)
    # codes of s_b are not uniform; use only the term predicting s_b's codes from s_a = uniform log-probs
    # codes(s_a) = 1/K everywhere; CE(1/K, softmax(s_b)) per sample:
    lse0 = math.log(math.e + 3)
    ce_b = [(-(1 - lse0) - 3 * (0 - lse0)) / k, math.log(k)]
    # CE(codes(s_b), uniform) = log K whatever the codes
    expected = (sum(ce_b) / 2 + math.log(k)) / 2
    assert loss([s_a, s_b]).item() == pytest.approx(expected, rel=1e-5)


def test_multicrop_averages_over_predicting_crops():
    torch.manual_seed(0)
    g = [torch.randn(8, 5) for _ in range(2)]
    loc = [torch.randn(8, 5) for _ in range(3)]
    loss = SwAVLoss(temperature=0.5)
    lp = [torch.log_softmax(s / 0.5, dim=1) for s in g + loc]
    expected = 0
    for i in range(2):
        q = loss.codes(g[i])
        others = [lp[j] for j in range(5) if j != i]
        expected += sum(-(q * o).sum(1).mean() for o in others) / 4
    assert loss(g, loc).item() == pytest.approx((expected / 2).item(), rel=1e-6)


def test_no_gradient_through_codes():
    torch.manual_seed(0)
    s = [(torch.randn(6, 3) * 5).requires_grad_() for _ in range(2)]  # large scores / epsilon
    SwAVLoss()(s).backward()
    for x in s:
        assert x.grad is not None and x.grad.abs().sum().item() > 0
    # gradient of CE w.r.t. logits sums to zero per row (softmax - codes, codes rows sum to 1)
    torch.testing.assert_close(s[0].grad.sum(1), torch.zeros(6), atol=1e-6, rtol=0)


def test_validates():
    with pytest.raises(ValueError):
        SwAVLoss(temperature=0)
    with pytest.raises(ValueError):
        SwAVLoss(sinkhorn_iterations=0)
    with pytest.raises(ValueError):
        SwAVLoss()([torch.randn(4, 3)])
    with pytest.raises(ValueError):
        SwAVLoss()([torch.randn(4, 3), torch.randn(4, 2)])
