"""Pretext methods: labels match the transformation applied, colour handling, and a short fit per method."""

from __future__ import annotations

import lightning as L
import pytest
import torch
import torch.nn.functional as F

from sslkit.methods import Colorization, Jigsaw, RotNet
from sslkit.methods.pretext.rotnet import rotate_all
from sslkit.transforms import ViewAugment, normalize
from sslkit.utils.tiles import DIRECTIONS, assemble_tiles, grid_tiles, hamming_permutations

TINY = {"backbone_kwargs": {"widths": [8, 16, 32]}}
DIGITS_MEAN, DIGITS_STD = (0.305,) * 3, (0.385,) * 3


def test_rotation_labels_undo_the_rotation():
    x = torch.randn(3, 2, 5, 5)
    rotated, labels = rotate_all(x)
    assert rotated.shape == (12, 2, 5, 5) and labels.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    for i in range(12):
        assert torch.equal(torch.rot90(rotated[i], -int(labels[i]), dims=(1, 2)), x[i % 3])
    marker = torch.zeros(1, 1, 3, 3)
    marker[..., 0, 2] = 1  # top right
    r, _ = rotate_all(marker)
    assert r[1, 0, 0, 0] == 1 and r[2, 0, 2, 0] == 1 and r[3, 0, 2, 2] == 1  # counter-clockwise by 90, 180, 270


def test_rotnet_loss_classifies_the_applied_rotation():
    torch.manual_seed(0)
    model = RotNet(**TINY)
    x = torch.randn(4, 3, 8, 8)
    out = model.training_loss([x])
    rotated, labels = rotate_all(x)
    logits = model.head(model.backbone(rotated))
    torch.testing.assert_close(out["loss"], F.cross_entropy(logits, labels))
    assert out["features"].shape == (4, 32)
    with pytest.raises(ValueError, match="square"):
        rotate_all(torch.randn(1, 3, 8, 6))


def test_jigsaw_labels_are_the_permutation_applied():
    torch.manual_seed(0)
    model = Jigsaw(grid=2, tile_size=None, num_permutations=10, permutation_seed=5, **TINY)
    assert torch.equal(model.permutations, hamming_permutations(4, 10, seed=5))
    x = torch.randn(16, 3, 8, 8)
    puzzles, labels = model.make_puzzles(x)
    assert puzzles.shape == (16, 4, 3, 4, 4) and labels.unique().numel() > 1
    for b in range(16):
        order = model.permutations[labels[b]]  # position k shows tile order[k]
        tiles = torch.empty_like(puzzles[b])
        tiles[order] = puzzles[b]  # the inverse permutation puts every tile back in its cell
        assert torch.equal(assemble_tiles(tiles[None], 2)[0], x[b])
    assert "permutations" in model.state_dict()
    mean_rule = Jigsaw(grid=2, num_permutations=10, permutation_seed=2, permutation_criterion="mean", **TINY)
    assert torch.equal(mean_rule.permutations, hamming_permutations(4, 10, seed=2, criterion="mean"))  # differs from "min"
    with pytest.raises(ValueError, match="grid must be at least 2"):
        Jigsaw(grid=1, **TINY)


def test_relative_position_labels_give_where_the_second_tile_lies():
    torch.manual_seed(0)
    model = Jigsaw(task="relative_position", grid=3, tile_size=None, **TINY)
    x = torch.randn(32, 1, 12, 12)
    cells = grid_tiles(x, 3)
    pairs, labels = model.make_puzzles(x)
    assert pairs.shape == (32, 2, 1, 4, 4) and labels.unique().numel() > 4
    for b in range(32):
        first, second = ([n for n in range(9) if torch.equal(cells[b, n], pairs[b, k])][0] for k in (0, 1))
        assert DIRECTIONS[labels[b]] == (second // 3 - first // 3, second % 3 - first % 3)


def _grey(n: int = 2) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(n, 1, 8, 8).expand(-1, 3, -1, -1)


def test_colorization_unnormalises_its_inputs_and_sees_lightness_only():
    model = Colorization(DIGITS_MEAN, DIGITS_STD, **TINY)
    white = normalize(torch.ones(1, 3, 4, 4), DIGITS_MEAN, DIGITS_STD)
    torch.testing.assert_close(model.lab(white)[:, 0], torch.full((1, 4, 4), 100.0))
    model.eval()
    red, grey = torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8)
    red[:, 0] = 1.0
    grey[:] = rgb_lightness_to_grey(53.2408)  # pure red has L = 53.2408
    # same lightness, different colour: the backbone cannot tell them apart
    torch.testing.assert_close(model.embed(normalize(red, DIGITS_MEAN, DIGITS_STD)),
                               model.embed(normalize(grey, DIGITS_MEAN, DIGITS_STD)), atol=1e-3, rtol=0)


def rgb_lightness_to_grey(lightness: float) -> float:
    """The sRGB grey level of a CIE lightness."""
    from sslkit.utils.color import lab_to_rgb

    return float(lab_to_rgb(torch.tensor([lightness, 0.0, 0.0]).view(3, 1, 1))[0])


def test_colorization_preview_keeps_lightness_and_the_normalised_space():
    model = Colorization(DIGITS_MEAN, DIGITS_STD, target="regression", **TINY).eval()
    torch.nn.init.zeros_(model.head.conv.weight)
    torch.nn.init.zeros_(model.head.conv.bias)  # predicts ab = 0: grey stays grey
    x = normalize(_grey(), DIGITS_MEAN, DIGITS_STD)
    torch.testing.assert_close(model.preview_images(x), x, atol=1e-4, rtol=0)
    model = Colorization(DIGITS_MEAN, DIGITS_STD, upsample=2, **TINY).eval()
    assert model.preview_images(x).shape == x.shape


def test_colorization_targets_prior_and_mismatched_normalisation():
    torch.manual_seed(0)
    model = Colorization(DIGITS_MEAN, DIGITS_STD, recolour="orientation", prior_momentum=0.5, **TINY)
    x = normalize(_grey(4), DIGITS_MEAN, DIGITS_STD)
    uniform = model.prior.clone()
    out = model.training_loss([x])
    lab = model.lab(x, recolour=True)
    logits = model.predict(lab[:, :1])  # 8 px -> 2x2 map
    ab = F.adaptive_avg_pool2d(lab[:, 1:], 2)
    freq = model.criterion.encode(ab).mean(dim=(0, 2, 3))
    torch.testing.assert_close(model.prior, 0.5 * uniform + 0.5 * freq)
    from sslkit.losses import rebalancing_weights

    w = rebalancing_weights(model.prior, model.criterion.bin_centers, 0.5, 5.0)
    torch.testing.assert_close(out["loss"], model.criterion(logits, ab, w))

    from sslkit.data import DigitsDataModule

    wrong = Colorization((0.5, 0.5, 0.5), DIGITS_STD, **TINY)
    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    with pytest.raises(ValueError, match="input_mean"):
        trainer.fit(wrong, datamodule=DigitsDataModule(load_size=8, batch_size=32, views=[ViewAugment(size=8)]))


@pytest.mark.parametrize("name", ["rotnet", "jigsaw", "relative_position", "colorization"])
def test_short_fit_lowers_the_loss(name, digits):
    torch.manual_seed(0)
    make = {"rotnet": lambda: RotNet(**TINY),
            "jigsaw": lambda: Jigsaw(grid=2, tile_size=7, num_permutations=24, **TINY),
            "relative_position": lambda: Jigsaw(task="relative_position", grid=2, tile_size=7, **TINY),
            "colorization": lambda: Colorization(DIGITS_MEAN, DIGITS_STD, recolour="orientation", upsample=2, **TINY)}
    model = make[name]()
    x = normalize(digits.splits()["train"][0].tensors[0][:32], digits.mean, digits.std)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        loss = model.training_loss([x])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5, losses
