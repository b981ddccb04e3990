"""Sequence methods: CPC's patch grid and causal context, FutureFrame's windows, causality and a short fit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sslkit.heads import FrameDecoder, RowCausalContext
from sslkit.methods import CPC, FutureFrame
from sslkit.methods.sequence.cpc import grid_patches

TINY = {"backbone": "tiny_cnn", "backbone_kwargs": {"widths": [8, 16]}}


# ---------------------------------------------------------------------------- CPC
def test_grid_patches_are_the_strided_crops_row_major():
    x = torch.randn(2, 3, 12, 12)
    p = grid_patches(x, 6, 2)
    assert p.shape == (2, 4, 4, 3, 6, 6)
    for i in range(4):
        for j in range(4):
            assert torch.equal(p[:, i, j], x[:, :, 2 * i:2 * i + 6, 2 * j:2 * j + 6])
    with pytest.raises(ValueError, match="larger"):
        grid_patches(x, 13, 2)


def test_context_sees_only_rows_at_or_above():
    torch.manual_seed(0)
    ctx = RowCausalContext(5, 7, layers=3).eval()
    z = torch.randn(2, 6, 4, 5)
    base = ctx(z)
    assert base.shape == (2, 6, 4, 7)
    for i in range(5):
        later = z.clone()
        later[:, i + 1:] = torch.randn_like(later[:, i + 1:])
        out = ctx(later)
        torch.testing.assert_close(out[:, : i + 1], base[:, : i + 1])  # rows <= i never see rows > i
        assert not torch.allclose(out[:, i + 1], base[:, i + 1])
    above = z.clone()
    above[:, 1] += 1.0
    assert not torch.allclose(ctx(above)[:, 3], base[:, 3])  # 3 blocks: row 3 sees row 1


class _FirstPixel(nn.Module):
    """A stand-in backbone: the top-left pixel of each input, as a 1-d feature."""

    num_features = 1

    def forward(self, x):
        return x[:, :1, 0, 0]


def test_patch_features_keep_the_grid_order_and_default_steps_skip_overlap():
    model = CPC(patch_size=4, patch_stride=2, steps=2, **TINY)
    assert model.step_sizes == [2, 3]  # ceil(4 / 2) = 2: row 1 overlaps the context's own patch
    model.backbone = _FirstPixel()
    x = torch.arange(2 * 3 * 10 * 10, dtype=torch.float32).view(2, 3, 10, 10)
    z = model.patch_features(x)
    assert z.shape == (2, 4, 4, 1)
    for i in range(4):
        for j in range(4):
            assert torch.equal(z[:, i, j, 0], x[:, 0, 2 * i, 2 * j])  # feature (b, i, j) is patch (i, j) of image b
    assert CPC(patch_size=8, patch_stride=3, **TINY).step_sizes == [3, 4]
    assert CPC(patch_size=4, patch_stride=4, steps=3, **TINY).step_sizes == [1, 2, 3]  # no overlap: next row


def test_cpc_predictions_loss_and_embed_modes():
    torch.manual_seed(0)
    model = CPC(patch_size=4, patch_stride=2, steps=2, context_dim=16, **TINY)
    x = torch.randn(3, 3, 12, 12)  # 5 x 5 grid
    z = model.patch_features(x)
    preds = model.predictions(z)
    assert sorted(preds) == [2, 3] and preds[2].shape == (3, 3, 5, 16) and preds[3].shape == (3, 2, 5, 16)
    out = model.training_loss([x])
    assert set(out) == {"loss", "acc"} and out["loss"].requires_grad
    assert out["loss"].item() == pytest.approx(model.criterion(preds, z).item(), rel=1e-5)
    with pytest.raises(ValueError, match="too few to predict"):
        model.training_loss([torch.randn(2, 3, 8, 8)])  # a 3 x 3 grid cannot predict 3 rows ahead
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model.embed(x), model.backbone(x))
        model.embed_mode = "patches"
        patches = grid_patches(x, 4, 2).reshape(-1, 3, 4, 4)
        torch.testing.assert_close(model.embed(x), model.backbone(patches).view(3, 25, -1).mean(1))
    with pytest.raises(ValueError, match="embed_mode"):
        CPC(embed_mode="grid", **TINY)


# ---------------------------------------------------------------------------- FutureFrame
def test_windows_predict_the_frames_after_their_context_only():
    torch.manual_seed(0)
    model = FutureFrame(context_frames=2, horizon=2, hidden_dim=8, pixel_hidden_dim=4, **TINY).eval()
    assert model.num_views == (4, None)
    frames = torch.randn(2, 7, 3, 8, 8)
    with torch.no_grad():
        preds, targets, maps = model.predict(frames)
    assert preds.shape == targets.shape == (2, 4, 2, 3, 8, 8)  # windows start at frames 2 .. 5
    assert maps.shape == (2, 7, 16, 4, 4)
    for w in range(4):
        assert torch.equal(targets[:, w], frames[:, w + 2:w + 4])
    # window w reads frames w, w + 1 only (eval mode: BatchNorm does not mix frames)
    for t in range(7):
        changed = frames.clone()
        changed[:, t] = torch.randn_like(changed[:, t])
        with torch.no_grad():
            again = model.predict(changed)[0]
        same = [torch.allclose(again[:, w], preds[:, w]) for w in range(4)]
        assert same == [t not in (w, w + 1) for w in range(4)], (t, same)


def test_frame_decoder_shapes_and_checks():
    dec = FrameDecoder(16, context=3, channels=1, horizon=2, hidden=8, pixel_hidden=4)
    assert dec(torch.randn(5, 3, 16, 2, 2), (10, 12)).shape == (5, 2, 1, 10, 12)
    with pytest.raises(ValueError):
        FrameDecoder(16, context=0)


def test_future_frame_terms_order_head_and_preview():
    torch.manual_seed(0)
    model = FutureFrame(context_frames=2, order_weight=0.5, hidden_dim=8, pixel_hidden_dim=4, **TINY)
    views = list(torch.randn(5, 4, 3, 8, 8).unbind(0))  # 5 frames of 4 clips
    out = model.training_loss(views)
    assert set(out) == {"loss", "frame_loss", "order_loss", "order_acc"}
    assert out["loss"].item() == pytest.approx(out["frame_loss"].item() + 0.5 * out["order_loss"].item(), rel=1e-5)
    with pytest.raises(ValueError, match="too short"):
        model.predict(torch.randn(2, 2, 3, 8, 8))
    model.eval()
    grid = model.preview_images(views)
    clips = torch.stack(views, 1)
    assert grid.shape == (4 * 2 * 3, 3, 8, 8)  # per clip: 3 true next frames, then 3 predicted
    torch.testing.assert_close(grid[:3], clips[0, 2:5])
    torch.testing.assert_close(grid[3:6], model.predict(clips)[0][0, :, 0])
    assert model.preview_images(torch.randn(2, 3, 8, 8)) is None  # single frames carry no motion


def test_future_frame_loss_falls_on_a_short_fit():
    from sslkit.data.video import MovingDigits
    from sslkit.data.digits import DigitsDataModule

    data, labels = DigitsDataModule(load_size=8).splits()["train"]
    clips = MovingDigits(data.tensors[0][:64, 0], labels[:64], canvas_size=16, num_frames=5, speed=(1.0, 2.0), seed=0)
    frames = torch.stack([clips[i][0] for i in range(64)])
    frames = (frames - frames.mean()) / frames.std()
    torch.manual_seed(0)
    model = FutureFrame(context_frames=2, hidden_dim=32, pixel_hidden_dim=16, **TINY)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(60):
        batch = frames[(step * 16) % 64:(step * 16) % 64 + 16]
        loss = model.training_loss(list(batch.unbind(1)))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # the best constant guess (each pixel's mean) scores the pixel variance; copying the last frame moves nothing
    targets = frames[:, 2:]
    constant = ((targets - targets.mean(dim=(0, 1))) ** 2).mean().item()
    copy_last = ((frames[:, 2:] - frames[:, 1:-1]) ** 2).mean().item()
    late = sum(losses[-5:]) / 5
    assert late < 0.6 * sum(losses[:5]) / 5, losses
    assert late < 0.8 * constant and late < copy_last, (late, constant, copy_last)


@pytest.mark.parametrize("norm,leaks", [("batch", True), ("layer", False), ("group", False)])
def test_cpc_patch_features_share_no_batch_statistics_with_layer_or_group_norm(norm, leaks):
    """BatchNorm normalises over every patch of every image in training mode, so one patch's features depend on the
    other patches (the causal context leaks); the LayerNorm / GroupNorm backbone (CPC v2) keeps patches apart."""
    torch.manual_seed(0)
    model = CPC(patch_size=4, patch_stride=2, steps=1, backbone="tiny_cnn",
                backbone_kwargs={"widths": [8, 16], "norm": norm}).train()
    x = torch.randn(2, 3, 10, 10)
    other = x.clone()
    other[:, :, 6:] = torch.randn_like(other[:, :, 6:])  # change the bottom rows only
    before, after = model.patch_features(x), model.patch_features(other)
    top = slice(0, 2)  # patch rows 0-1 cover pixel rows 0-5: their pixels did not change
    assert torch.allclose(before[:, top], after[:, top]) != leaks
    layer_norms = [m for m in model.backbone.modules() if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm))]
    assert layer_norms and all(isinstance(m, nn.BatchNorm2d) == (norm == "batch") for m in layer_norms)


def test_digits_cpc_recipe_uses_a_batch_free_norm():
    import yaml

    from conftest import RECIPES

    kw = yaml.safe_load((RECIPES / "pretrain/digits/cpc.yaml").read_text())["model"]["init_args"]
    assert kw["backbone_kwargs"]["norm"] in ("layer", "group")
