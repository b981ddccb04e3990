"""Masked-image-modelling losses against hand-computed values."""

import pytest
import torch

from sslkit.losses import Data2VecLoss, MaskedReconstructionLoss, average_top_k, normalize_patches


def test_mse_on_masked_patches_by_hand():
    # 1 image, 3 patches of 2 pixels; patches 0 and 2 masked: ((1 + 4) / 2 + (9 + 1) / 2) / 2 = 3.75
    pred = torch.tensor([[[1.0, 2.0], [100.0, -7.0], [3.0, 1.0]]])
    target = torch.tensor([[[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])
    mask = torch.tensor([[True, False, True]])
    assert MaskedReconstructionLoss("mse")(pred, target, mask).item() == pytest.approx(3.75)
    assert MaskedReconstructionLoss("l1")(pred, target, mask).item() == pytest.approx((1.5 + 2.0) / 2)


def test_visible_predictions_do_not_change_the_loss_masked_ones_do():
    torch.manual_seed(0)
    pred, target = torch.randn(4, 16, 12), torch.randn(4, 16, 12)
    mask = torch.zeros(4, 16, dtype=torch.bool)
    mask[:, ::3] = True
    losses = (MaskedReconstructionLoss("mse"), MaskedReconstructionLoss("l1"), MaskedReconstructionLoss(norm_pix=True),
              Data2VecLoss("smooth_l1", 2.0), Data2VecLoss("mse"))
    for loss in losses:
        base = loss(pred, target, mask)
        assert loss(torch.where(mask[..., None], pred, pred + 5.0), target, mask).item() == pytest.approx(base.item())
        assert loss(torch.where(mask[..., None], pred + 5.0, pred), target, mask).item() != pytest.approx(base.item())


def test_norm_pix_target_by_hand():
    # patch [1, 2, 3, 6]: mean 3, unbiased var (4 + 1 + 0 + 9) / 3 = 14 / 3
    patch = torch.tensor([[[1.0, 2.0, 3.0, 6.0]]])
    expected = (patch - 3.0) / (14 / 3 + 1e-6) ** 0.5
    torch.testing.assert_close(normalize_patches(patch), expected)
    # a flat patch: var 0, so the target is 0 / sqrt(1e-6) = 0 (finite, thanks to eps)
    torch.testing.assert_close(normalize_patches(torch.full((1, 1, 4), 5.0)), torch.zeros(1, 1, 4))
    loss = MaskedReconstructionLoss("mse", norm_pix=True)
    pred = torch.zeros(1, 1, 4)
    assert loss(pred, patch, torch.tensor([[True]])).item() == pytest.approx(expected.pow(2).mean().item(), rel=1e-6)


def test_smooth_l1_by_hand_and_beta():
    pred = torch.tensor([[[0.0, 0.0], [9.0, 9.0]]])
    target = torch.tensor([[[1.0, 3.0], [0.0, 0.0]]])
    mask = torch.tensor([[True, False]])
    # beta 2: |d| = 1 < 2 -> 0.5 * 1 / 2 = 0.25; |d| = 3 >= 2 -> 3 - 1 = 2; mean 1.125
    assert Data2VecLoss("smooth_l1", beta=2.0)(pred, target, mask).item() == pytest.approx(1.125)
    # beta 1: 0.5 and 2.5 -> 1.5; mse: (1 + 9) / 2 = 5
    assert Data2VecLoss("smooth_l1", beta=1.0)(pred, target, mask).item() == pytest.approx(1.5)
    assert Data2VecLoss("mse")(pred, target, mask).item() == pytest.approx(5.0)


def test_average_top_k_by_hand():
    b1 = torch.tensor([[[9.0, 9.0], [9.0, 9.0], [9.0, 9.0]]])  # not in the top 2: ignored
    b2 = torch.tensor([[[0.0, 0.0], [1.0, 3.0], [2.0, 0.0]]])
    b3 = torch.tensor([[[0.0, 0.0], [4.0, 0.0], [2.0, 2.0]]])
    blocks = [b1, b2, b3]
    # prefix token (row 0) dropped; no norm: mean of b2 and b3
    torch.testing.assert_close(average_top_k(blocks, 2, "none", 1), torch.tensor([[[2.5, 1.5], [2.0, 1.0]]]))
    # layer norm, each position over its channels: b2 -> (-1, 1), (1, -1); b3 -> (1, -1), (0, 0)
    close = dict(atol=1e-4, rtol=0)
    torch.testing.assert_close(average_top_k(blocks, 1, "layer", 1), torch.tensor([[[1.0, -1.0], [0.0, 0.0]]]), **close)
    torch.testing.assert_close(average_top_k(blocks, 2, "layer", 1), torch.tensor([[[0.0, 0.0], [0.5, -0.5]]]), **close)
    # instance norm, each channel over the positions: b3 channel 0 (4, 2) -> (1, -1), channel 1 (0, 2) -> (-1, 1);
    # b2 channel 0 (1, 2) -> (-1, 1), channel 1 (3, 0) -> (1, -1)
    torch.testing.assert_close(average_top_k(blocks, 1, "instance", 1), torch.tensor([[[1.0, -1.0], [-1.0, 1.0]]]),
                               **close)
    torch.testing.assert_close(average_top_k(blocks, 2, "instance", 1), torch.zeros(1, 2, 2), **close)
    # data2vec v1 vision: no per-block norm, a layer norm of the average: (2.5, 1.5) -> (1, -1), (2, 1) -> (1, -1)
    torch.testing.assert_close(average_top_k(blocks, 2, "none", 1, final_norm=True),
                               torch.tensor([[[1.0, -1.0], [1.0, -1.0]]]), **close)
    # data2vec 2.0: instance norm per block, then a layer norm: b2 alone (-1, 1), (1, -1) stays (already unit)
    torch.testing.assert_close(average_top_k(blocks[:2], 1, "instance", 1, final_norm=True),
                               torch.tensor([[[-1.0, 1.0], [1.0, -1.0]]]), **close)
    # a layer norm of b2's raw outputs: (1, 3) -> (-1, 1), (2, 0) -> (1, -1)
    torch.testing.assert_close(average_top_k(blocks[:2], 1, "none", 1, final_norm=True),
                               torch.tensor([[[-1.0, 1.0], [1.0, -1.0]]]), **close)


def test_arguments_and_shapes_are_checked():
    with pytest.raises(ValueError, match="metric"):
        MaskedReconstructionLoss("l2")
    with pytest.raises(ValueError, match="beta"):
        Data2VecLoss(beta=0.0)
    with pytest.raises(ValueError, match="top_k"):
        average_top_k([torch.zeros(1, 2, 2)], 2)
    with pytest.raises(ValueError, match="one shape"):
        MaskedReconstructionLoss()(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4), torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="no position"):
        Data2VecLoss()(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), torch.zeros(1, 2, dtype=torch.bool))
