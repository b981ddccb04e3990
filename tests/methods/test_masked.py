"""Masked image modelling (MAE, SimMIM, data2vec): masks reach the loss, targets come from the right place,
and a short fit lowers the loss."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch import nn

from sslkit.losses import normalize_patches
from sslkit.methods import MAE, Data2Vec, SimMIM
from sslkit.utils.masking import patchify, random_masking, unpatchify, upsample_mask, vit_tokens

VIT = dict(backbone="timm:vit_tiny_patch16_224",
           backbone_kwargs=dict(img_size=16, patch_size=4, depth=3, embed_dim=32, num_heads=2))
CNN = dict(backbone="tiny_cnn", backbone_kwargs=dict(widths=[8, 16]))


def _mae(**kw) -> MAE:
    torch.manual_seed(0)
    return MAE(decoder_dim=32, decoder_depth=1, decoder_num_heads=2, **VIT, **kw)


class Stub(nn.Module):
    """A decoder that returns fixed predictions and records what it was given."""

    def __init__(self, out: torch.Tensor) -> None:
        super().__init__()
        self.out, self.seen = out, []

    def forward(self, *args):
        self.seen.append(args)
        return self.out


def _loss_with(model, stub_out, x, seed=3):
    model.decoder = Stub(stub_out)
    torch.manual_seed(seed)
    return model.training_loss([x])["loss"], model.decoder.seen[0]


@pytest.mark.parametrize("norm_pix", [False, True])
def test_mae_loss_sees_only_masked_patches_and_matches_a_hand_computation(norm_pix):
    model, x = _mae(norm_pix_loss=norm_pix), torch.randn(4, 3, 16, 16)
    torch.manual_seed(3)
    mask = random_masking(4, 16, 0.75).mask  # the mask training_loss draws with the same seed
    pred = torch.randn(4, 16, 48)
    loss, (tokens, ids_restore) = _loss_with(model, pred, x)
    assert tokens.shape == (4, 1 + 4, 32)  # the encoder saw the class token and the 4 visible patches only
    target = patchify(x, 4)
    target = normalize_patches(target) if norm_pix else target
    hand = ((pred - target) ** 2).mean(-1)[mask].mean()
    assert loss.item() == pytest.approx(hand.item(), rel=1e-5)
    visible_changed, _ = _loss_with(model, torch.where(mask[..., None], pred, pred + 3.0), x)
    masked_changed, _ = _loss_with(model, torch.where(mask[..., None], pred + 3.0, pred), x)
    assert visible_changed.item() == pytest.approx(loss.item(), rel=1e-6)
    assert masked_changed.item() > loss.item() + 1.0


def test_mae_encoder_never_sees_masked_pixels():
    model, x = _mae(), torch.randn(2, 3, 16, 16)
    m = random_masking(2, 16, 0.75, generator=torch.Generator().manual_seed(0))
    pixels = upsample_mask(m.mask, (4, 4), 4).unsqueeze(1)
    noisy = torch.where(pixels, torch.randn_like(x) * 10, x)
    torch.testing.assert_close(model.backbone.forward_tokens(noisy, keep=m.ids_keep),
                               model.backbone.forward_tokens(x, keep=m.ids_keep))
    decoded = model.decoder(model.backbone.forward_tokens(x, keep=m.ids_keep), m.ids_restore)
    assert decoded.shape == (2, 16, 48)


def test_mae_preview_pastes_visible_patches_and_unnormalises_predictions():
    model, x = _mae(norm_pix_loss=True), torch.randn(3, 3, 16, 16)
    pred = torch.randn(3, 16, 48)
    model.decoder = Stub(pred)
    torch.manual_seed(5)
    mask = random_masking(3, 16, 0.75).mask
    torch.manual_seed(5)
    out = patchify(model.preview_images(x), 4)
    patches = patchify(x, 4)
    torch.testing.assert_close(out[~mask], patches[~mask], rtol=0, atol=0)
    unnorm = pred * (patches.var(-1, keepdim=True) + 1e-6) ** 0.5 + patches.mean(-1, keepdim=True)
    torch.testing.assert_close(out[mask], unnorm[mask])


@pytest.mark.parametrize("arch", ["vit", "cnn"])
def test_simmim_l1_on_masked_pixels_only(arch):
    torch.manual_seed(0)
    model = SimMIM(mask_ratio=0.5, mask_patch_size=8, **(VIT if arch == "vit" else dict(encoder_stride=2, **CNN)))
    x = torch.randn(2, 3, 16, 16)
    torch.manual_seed(3)
    mask = random_masking(2, 4, 0.5).mask
    pixels = upsample_mask(mask, (2, 2), 8).unsqueeze(1).expand_as(x)
    pred = torch.randn_like(x)
    loss, (features,) = _loss_with(model, pred, x)
    assert features.shape == ((2, 32, 4, 4) if arch == "vit" else (2, 16, 8, 8))
    assert loss.item() == pytest.approx((pred - x).abs()[pixels].mean().item(), rel=1e-5)
    visible_changed, _ = _loss_with(model, torch.where(pixels, pred, pred + 3.0), x)
    masked_changed, _ = _loss_with(model, torch.where(pixels, pred + 3.0, pred), x)
    assert visible_changed.item() == pytest.approx(loss.item(), rel=1e-6)
    assert masked_changed.item() > loss.item() + 1.0


@pytest.mark.parametrize("arch", ["vit", "cnn"])
def test_simmim_hides_masked_pixels_from_the_encoder(arch):
    torch.manual_seed(0)
    model = SimMIM(mask_patch_size=8, **(VIT if arch == "vit" else dict(encoder_stride=2, **CNN))).eval()
    x = torch.randn(2, 3, 16, 16)
    mask = torch.tensor([[True, False, False, True], [False, True, False, False]])
    pixels = upsample_mask(mask, (2, 2), 8).unsqueeze(1)
    noisy = torch.where(pixels, torch.randn_like(x) * 10, x)
    visible_noisy = torch.where(pixels, x, torch.randn_like(x) * 10)
    with torch.no_grad():
        torch.testing.assert_close(model.reconstruct(noisy, mask), model.reconstruct(x, mask))
        assert not torch.allclose(model.reconstruct(visible_noisy, mask), model.reconstruct(x, mask))
        preview = model.preview_images(x)
    assert preview.shape == x.shape


def test_simmim_vit_mask_token_replaces_patch_embeddings():
    torch.manual_seed(0)
    model = SimMIM(mask_patch_size=4, **VIT).eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        plain, blocks = vit_tokens(model.backbone, x)
        torch.testing.assert_close(plain, model.backbone.forward_tokens(x))  # no mask: the backbone's own forward
        assert len(blocks) == 3
        all_masked, _ = vit_tokens(model.backbone, x, torch.ones(2, 16, dtype=torch.bool), model.mask_token)
        other, _ = vit_tokens(model.backbone, torch.randn_like(x), torch.ones(2, 16, dtype=torch.bool),
                              model.mask_token)
    torch.testing.assert_close(all_masked, other)  # every patch replaced: the image no longer matters


def _data2vec(**kw) -> Data2Vec:
    torch.manual_seed(0)
    return Data2Vec(top_k=2, **VIT, **kw)


def test_data2vec_targets_come_from_the_teacher_without_gradient():
    model, x = _data2vec(), torch.randn(4, 3, 16, 16)
    out = model.training_loss([x])
    out["loss"].backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert model.mask_token.grad is not None and model.backbone.model.blocks[0].attn.qkv.weight.grad is not None
    target = model.targets(x)
    assert not target.requires_grad and target.shape == (4, 16, 32)

    # an independent path: forward hooks on the teacher's last 2 blocks in timm's own forward, layer-normed, averaged
    seen = []
    hooks = [b.register_forward_hook(lambda m, i, o: seen.append(o)) for b in model.teacher.encoder[0].model.blocks]
    with torch.no_grad():
        model.teacher.encoder[0].model.forward_features(x)
    for h in hooks:
        h.remove()
    ref = sum(nn.functional.layer_norm(t[:, 1:], (32,)) for t in seen[-2:]) / 2
    torch.testing.assert_close(target, ref)

    # the student's weights do not move the target; the teacher's do
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(1.0)
    torch.testing.assert_close(model.targets(x), target)
    with torch.no_grad():
        model.teacher.encoder[0].model.blocks[-1].mlp.fc2.weight.mul_(3.0)
    assert not torch.allclose(model.targets(x), target, atol=1e-3)


@pytest.mark.parametrize("version", ["v1", "2.0"])
def test_data2vec_reference_targets_by_hooks_on_timm_forward(version):
    """v1 vision: layer norm of the averaged block outputs; 2.0: instance norm per FFN output, mean, layer norm."""
    kw = dict(target_norm="none", final_norm=True) if version == "v1" else \
        dict(target_norm="instance", final_norm=True, target_layer="ffn")
    model, x = _data2vec(**kw), torch.randn(4, 3, 16, 16)
    teacher = model.teacher.encoder[0].model
    seen = []
    hooks = [(b if version == "v1" else b.mlp).register_forward_hook(lambda m, i, o: seen.append(o))
             for b in teacher.blocks]
    with torch.no_grad():
        teacher.forward_features(x)
    for h in hooks:
        h.remove()
    if version == "v1":
        mean = sum(t[:, 1:] for t in seen[-2:]) / 2
    else:  # FFN outputs (the MLP branch, before the residual add), each channel normalised over the positions
        mean = sum((t[:, 1:] - t[:, 1:].mean(1, keepdim=True)) / (t[:, 1:].var(1, unbiased=False, keepdim=True)
                                                                     + 1e-5).sqrt() for t in seen[-2:]) / 2
    ref = (mean - mean.mean(-1, keepdim=True)) / (mean.var(-1, unbiased=False, keepdim=True) + 1e-5).sqrt()
    torch.testing.assert_close(model.targets(x), ref, atol=1e-4, rtol=1e-4)
    assert model.targets(x).std(-1).mean().item() == pytest.approx(1.0, abs=0.05)  # each position layer-normed
    with pytest.raises(ValueError, match="target_layer"):
        _data2vec(target_layer="attn")


def test_data2vec_loss_only_at_masked_positions():
    model, x = _data2vec(loss="mse"), torch.randn(4, 3, 16, 16)
    torch.manual_seed(3)
    target = model.targets(x)
    mask = random_masking(4, 16, 0.6).mask
    pred = torch.randn(4, 16, 32)
    model.regressor = Stub(pred)
    torch.manual_seed(3)
    loss = model.training_loss([x])["loss"]
    assert loss.item() == pytest.approx(((pred - target) ** 2)[mask].mean().item(), rel=1e-5)
    model.regressor = Stub(torch.where(mask[..., None], pred, pred + 3.0))
    torch.manual_seed(3)
    assert model.training_loss([x])["loss"].item() == pytest.approx(loss.item(), rel=1e-6)


def test_masked_methods_reject_bad_configurations():
    with pytest.raises(ValueError, match="vision transformer"):
        MAE(**CNN)
    with pytest.raises(ValueError, match="vision transformer"):
        Data2Vec(**CNN)
    with pytest.raises(ValueError, match="encoder_stride"):
        SimMIM(**CNN)
    with pytest.raises(ValueError, match="multiple of the ViT patch size"):
        SimMIM(mask_patch_size=6, **VIT)
    with pytest.raises(ValueError, match="top_k"):
        Data2Vec(top_k=4, **VIT)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        MAE(mask_ratio=1.0, **VIT)


# ---------------------------------------------------------------------------------------------- short fits
def _fit(model: L.LightningModule, steps: int = 30) -> list[float]:
    from sslkit.data import DigitsDataModule
    from sslkit.transforms import ViewAugment

    class Losses(L.Callback):
        def __init__(self):
            self.values = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.values.append(float(outputs["loss"]))

    dm = DigitsDataModule(load_size=16, batch_size=64, views=[ViewAugment(size=16, crop_scale=(0.8, 1.0),
                                                                           hflip_prob=0.0, jitter_prob=0.0,
                                                                           grayscale_prob=0.0)])
    watch = Losses()
    trainer = L.Trainer(max_steps=steps, limit_val_batches=0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[watch], accelerator="cpu")
    trainer.fit(model, datamodule=dm)
    return watch.values


@pytest.mark.parametrize("name", ["mae", "simmim", "data2vec"])
def test_short_fit_lowers_the_loss(name):
    from functools import partial

    opt = partial(torch.optim.AdamW, lr=2e-3, weight_decay=0.0)
    torch.manual_seed(0)
    model = {"mae": lambda: MAE(decoder_dim=32, decoder_depth=1, decoder_num_heads=2, optimizer=opt, **VIT),
             "simmim": lambda: SimMIM(mask_patch_size=4, encoder_stride=2, optimizer=opt, **CNN),
             "data2vec": lambda: Data2Vec(top_k=2, base_tau=0.99, final_tau=0.99, optimizer=opt, **VIT)}[name]()
    losses = _fit(model)
    assert len(losses) == 30 and all(torch.isfinite(torch.tensor(losses)))
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.9 * first, f"{name}: loss {first:.4f} -> {last:.4f}"


AVG = dict(img_size=16, patch_size=4, depth=2, embed_dim=32, num_heads=2, global_pool="avg")


@pytest.mark.parametrize("cls", [MAE, SimMIM, Data2Vec])
def test_avg_pool_without_fc_norm_false_is_refused_and_with_it_the_readout_is_the_mean_normed_token(cls):
    kw = dict(decoder_dim=32, decoder_depth=1, decoder_num_heads=2) if cls is MAE else {}
    kw = dict(top_k=2) if cls is Data2Vec else kw
    with pytest.raises(ValueError, match="fc_norm: false"):  # timm moved the final norm to a pooled-only fc_norm
        cls(backbone="timm:vit_tiny_patch16_224", backbone_kwargs=AVG, **kw)
    torch.manual_seed(0)
    model = cls(backbone="timm:vit_tiny_patch16_224", backbone_kwargs={**AVG, "fc_norm": False}, **kw).eval()
    x = torch.randn(3, 3, 16, 16)
    tokens = model.backbone.forward_tokens(x)  # what the decoders / regressors read: after the final LayerNorm
    assert isinstance(model.backbone.model.norm, nn.LayerNorm)
    torch.testing.assert_close(tokens, model.backbone.model.norm(model.backbone.model.blocks(
        model.backbone.model.norm_pre(model.backbone.model._pos_embed(model.backbone.model.patch_embed(x))))))
    torch.testing.assert_close(model.embed(x), tokens[:, 1:].mean(1))  # the probe: mean of the normed patch tokens


def test_digits_masked_recipes_train_the_norm_the_probe_reads():
    import yaml

    from conftest import RECIPES

    for name in ("mae", "simmim", "data2vec"):
        kw = yaml.safe_load((RECIPES / f"pretrain/digits/{name}.yaml").read_text())["model"]["init_args"]
        assert kw["backbone_kwargs"].get("fc_norm") is False, name
