"""Zhang et al.'s colour classification loss and class-rebalancing weights against hand-computed values."""

import math

import pytest
import torch
import torch.nn.functional as F

from sslkit.losses import ColorizationLoss, rebalancing_weights

TWO_BINS = torch.tensor([[0.0, 0.0], [10.0, 0.0]])


def test_soft_encoding_by_hand():
    loss = ColorizationLoss(TWO_BINS, neighbours=2, sigma=5.0)
    z = loss.encode(torch.tensor([0.0, 0.0]).view(1, 2, 1, 1)).flatten()
    # squared distances 0 and 100: weights exp(0), exp(-100 / 50) normalised
    e = math.exp(-2)
    torch.testing.assert_close(z, torch.tensor([1 / (1 + e), e / (1 + e)]))
    z = loss.encode(torch.tensor([5.0, 0.0]).view(1, 2, 1, 1)).flatten()
    torch.testing.assert_close(z, torch.tensor([0.5, 0.5]))


def test_loss_by_hand_with_weights():
    loss = ColorizationLoss(TWO_BINS, neighbours=2, sigma=5.0)
    logits = torch.tensor([0.0, math.log(3.0)]).view(1, 2, 1, 1).repeat(1, 1, 1, 2)  # p = (1/4, 3/4)
    ab = torch.tensor([[0.0, 0.0], [10.0, 0.0]]).t().reshape(1, 2, 1, 2)  # pixel 0 at bin 0, pixel 1 at bin 1
    e = math.exp(-2)
    z0 = (1 / (1 + e), e / (1 + e))
    ce0 = -(z0[0] * math.log(0.25) + z0[1] * math.log(0.75))  # 1.2554
    ce1 = -(z0[1] * math.log(0.25) + z0[0] * math.log(0.75))  # 0.4186
    assert loss(logits, ab).item() == pytest.approx((ce0 + ce1) / 2, rel=1e-5)
    w = torch.tensor([2.0, 0.5])  # each pixel weighted by its most likely bin's weight
    assert loss(logits, ab, w).item() == pytest.approx((2.0 * ce0 + 0.5 * ce1) / 2, rel=1e-5)


def test_one_neighbour_is_cross_entropy_on_the_nearest_bin():
    torch.manual_seed(0)
    bins = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [-10.0, -10.0]])
    logits, ab = torch.randn(2, 4, 3, 3), torch.randn(2, 2, 3, 3) * 8
    nearest = torch.cdist(ab.permute(0, 2, 3, 1).reshape(-1, 2), bins).argmin(dim=1).view(2, 3, 3)
    got = ColorizationLoss(bins, neighbours=1)(logits, ab)
    torch.testing.assert_close(got, F.cross_entropy(logits, nearest))


def test_rebalancing_weights_by_hand():
    far = torch.tensor([[0.0, 0.0], [100.0, 0.0], [200.0, 0.0]])  # no smoothing between bins 100 apart
    w = rebalancing_weights(torch.tensor([2.0, 1.0, 1.0]), far, mix=0.5, sigma=5.0)
    # p = (1/2, 1/4, 1/4); 1 / (p / 2 + 1/6) = (2.4, 24/7, 24/7); E_p[w] = 1.2 + 12/7
    raw = torch.tensor([2.4, 24 / 7, 24 / 7])
    torch.testing.assert_close(w, raw / (1.2 + 12 / 7))
    torch.testing.assert_close(rebalancing_weights(torch.tensor([2.0, 1.0, 1.0]), far, mix=1.0), torch.ones(3))


def test_rebalancing_smooths_the_prior():
    near = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    w = rebalancing_weights(torch.tensor([1.0, 0.0]), near, mix=0.0, sigma=5.0)
    # smoothed prior (1, e^-2) / (1 + e^-2); mix 0: w = 1 / p~, normalised so that E_p~[w] = 1 -> w = 1 / (2 p~)
    e = math.exp(-2)
    p = torch.tensor([1 / (1 + e), e / (1 + e)])
    torch.testing.assert_close(w, 1 / (2 * p))


def test_arguments_are_validated():
    with pytest.raises(ValueError, match="neighbours"):
        ColorizationLoss(TWO_BINS, neighbours=3)
    with pytest.raises(ValueError, match="sigma"):
        ColorizationLoss(TWO_BINS, neighbours=1, sigma=0.0)
    with pytest.raises(ValueError, match="logits"):
        ColorizationLoss(TWO_BINS, neighbours=2)(torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, 2))
    with pytest.raises(ValueError, match="mix"):
        rebalancing_weights(torch.ones(2), TWO_BINS, mix=1.5)
