"""Patches and random masks: exact layouts and exact mask counts."""

import pytest
import torch

from sslkit.utils.masking import num_masked, patchify, random_masking, unpatchify, upsample_mask


def test_patchify_layout_by_hand():
    # one 2-channel 4x4 image, 2x2 patches: patch 1 is the top-right block, flattened (row, column, channel)
    img = torch.arange(32.0).reshape(1, 2, 4, 4)
    patches = patchify(img, 2)
    assert patches.shape == (1, 4, 8)
    c0, c1 = img[0, 0], img[0, 1]
    expected = torch.stack([c0[0, 2], c1[0, 2], c0[0, 3], c1[0, 3], c0[1, 2], c1[1, 2], c0[1, 3], c1[1, 3]])
    torch.testing.assert_close(patches[0, 1], expected)


@pytest.mark.parametrize("shape,p", [((3, 3, 16, 16), 4), ((2, 1, 8, 12), 2), ((1, 3, 6, 6), 6)])
def test_unpatchify_inverts_patchify(shape, p):
    img = torch.randn(shape)
    grid = (shape[2] // p, shape[3] // p)
    torch.testing.assert_close(unpatchify(patchify(img, p), p, grid, shape[1]), img, rtol=0, atol=0)
    patches = torch.randn(shape[0], grid[0] * grid[1], p * p * shape[1])
    torch.testing.assert_close(patchify(unpatchify(patches, p, grid, shape[1]), p), patches, rtol=0, atol=0)


def test_patchify_rejects_sizes_that_do_not_divide():
    with pytest.raises(ValueError, match="multiple of the patch size"):
        patchify(torch.zeros(1, 3, 10, 10), 4)


@pytest.mark.parametrize("n,ratio", [(16, 0.75), (49, 0.6), (196, 0.75), (10, 0.25), (7, 0.5), (5, 0.0)])
def test_exactly_round_ratio_n_masked_per_image(n, ratio):
    g = torch.Generator().manual_seed(0)
    m = random_masking(64, n, ratio, generator=g)
    want = int(round(ratio * n))
    assert m.mask.dtype == torch.bool and m.mask.shape == (64, n)
    assert (m.mask.sum(1) == want).all()
    assert m.ids_keep.shape == (64, n - want)
    # the kept indices are exactly the unmasked positions
    kept = torch.zeros(64, n, dtype=torch.bool).scatter_(1, m.ids_keep, True)
    torch.testing.assert_close(kept, ~m.mask)


def test_ids_restore_puts_visible_then_masked_back_in_patch_order():
    m = random_masking(8, 16, 0.75, generator=torch.Generator().manual_seed(1))
    values = torch.arange(16.0).expand(8, 16)
    visible = torch.gather(values, 1, m.ids_keep)
    filled = torch.cat([visible, torch.full((8, 12), -1.0)], dim=1)
    restored = torch.gather(filled, 1, m.ids_restore)
    torch.testing.assert_close(restored, torch.where(m.mask, torch.tensor(-1.0), values))


def test_masks_differ_between_images_and_ratios_are_checked():
    m = random_masking(32, 16, 0.5, generator=torch.Generator().manual_seed(0))
    assert len({tuple(r.tolist()) for r in m.mask}) > 1
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        num_masked(16, 1.0)
    with pytest.raises(ValueError, match="masks all"):
        num_masked(2, 0.8)


def test_upsample_mask():
    mask = torch.tensor([[True, False, False, True]])
    up = upsample_mask(mask, (2, 2), 2)
    expected = torch.tensor([[[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]], dtype=torch.bool)
    assert torch.equal(up, expected)
