"""Generative methods: the MLP backbone, autoencoders, VAE (KL weight applied), GAN stages, DDPM, ImageGrid."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from unittest.mock import MagicMock, PropertyMock, patch

import lightning as L
import pytest
import torch
import torch.nn.functional as F
import yaml
from lightning.pytorch.loggers import WandbLogger
from torch.utils.data import DataLoader

from conftest import RECIPES
from sslkit.backbones import create_backbone
from sslkit.backbones.stages import stage_features
from sslkit.callbacks import ImageGrid
from sslkit.methods import DCGAN, DDPM, VAE, Autoencoder, BiGAN, DenoisingAutoencoder

TINY = {"backbone": "tiny_cnn", "backbone_kwargs": {"widths": [4, 8]}}
PIXELS = {"pixel_mean": [0.305], "pixel_std": [0.385]}


def _trainer(**kw) -> L.Trainer:
    return L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0, **kw)


def _loader(batches: list[torch.Tensor]) -> DataLoader:
    return DataLoader([([x], torch.zeros(len(x), dtype=torch.long)) for x in batches], batch_size=None)


# ---------------------------------------------------------------------------------------------- MLP backbone
def test_mlp_backbone_flattens_and_reads_stages():
    model = create_backbone("mlp", widths=[64, 32, 16], input_size=8).eval()
    x = torch.randn(5, 3, 8, 8)
    with torch.no_grad():
        by_hand = x.flatten(1)
        for layer in (model.stages[0][0], model.stages[1][0]):
            by_hand = torch.relu(layer(by_hand))
        torch.testing.assert_close(stage_features(model, x, 1), by_hand)
        torch.testing.assert_close(model(x), model.stages[2][0](by_hand))  # linear code: no ReLU at the end
    assert model.num_features == 16 and len(model.stages[2]) == 1
    with pytest.raises(ValueError, match="set input_size"):
        model(torch.randn(2, 3, 16, 16))


# ---------------------------------------------------------------------------------------------- autoencoders
def _digits(split: str, load_size: int = 8) -> torch.Tensor:
    from sslkit.data import DigitsDataModule
    from sslkit.transforms import ViewAugment

    dm = DigitsDataModule(load_size=load_size, val_fraction=0.1, test_fraction=0.1, views=[ViewAugment(size=load_size)])
    ds = dm.labelled_dataset(split)
    return torch.stack([ds[i][0] for i in range(len(ds))])


def test_mission_mlp_autoencoder_beats_the_mean_image_on_digits_val():
    """The recipe's 64-32-16 MLP autoencoder, trained briefly, reconstructs val digits better than their mean image."""
    args = yaml.safe_load((RECIPES / "pretrain/digits/autoencoder.yaml").read_text())["model"]["init_args"]
    args.pop("optimizer")
    torch.manual_seed(0)
    model = Autoencoder(**args)
    assert model.backbone.num_features == 16 and isinstance(model.decoder.net[0], torch.nn.Linear)
    train, val = _digits("train"), _digits("val")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(40):  # epochs of 5 batches of 256
        for batch in train[torch.randperm(len(train))][: 5 * 256].split(256):
            loss = model.training_loss([batch])["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        mse = F.mse_loss(model.preview_images(val), val).item()
    mean_image_mse = F.mse_loss(train.mean(0, keepdim=True).expand_as(val), val).item()
    assert mse < 0.6 * mean_image_mse, (mse, mean_image_mse)


def test_bce_autoencoder_scores_logits_against_pixels():
    torch.manual_seed(0)
    model = Autoencoder(**TINY, image_size=8, recon_loss="bce", **PIXELS)
    x = torch.randn(3, 3, 8, 8)
    logits = model.decoder(model.backbone(x))
    target = (x * 0.385 + 0.305).clamp(0, 1)
    torch.testing.assert_close(model.training_loss([x])["loss"], F.binary_cross_entropy_with_logits(logits, target))
    torch.testing.assert_close(model.to_images(logits), (torch.sigmoid(logits) - 0.305) / 0.385)
    with pytest.raises(ValueError, match="needs pixel_mean and pixel_std"):
        Autoencoder(**TINY, image_size=8, recon_loss="bce")


def test_sigmoid_mse_autoencoder_scores_sigmoid_outputs_against_pixels():
    torch.manual_seed(0)
    model = Autoencoder(**TINY, image_size=8, recon_loss="sigmoid_mse", **PIXELS)
    x = torch.randn(3, 3, 8, 8)
    out = model.decoder(model.backbone(x))
    expected = ((torch.sigmoid(out) - (x * 0.385 + 0.305)) ** 2).mean()
    torch.testing.assert_close(model.training_loss([x])["loss"], expected)
    torch.testing.assert_close(model.to_images(out), (torch.sigmoid(out) - 0.305) / 0.385)
    with pytest.raises(ValueError, match="recon_loss='sigmoid_mse' needs pixel_mean and pixel_std"):
        Autoencoder(**TINY, image_size=8, recon_loss="sigmoid_mse")


def test_denoising_corruptions():
    x = torch.randn(64, 3, 8, 8)
    masked = DenoisingAutoencoder(**TINY, image_size=8, noise="mask", mask_ratio=0.25, mask_value=-0.8).corrupt(x)
    hit = masked == -0.8
    assert torch.equal(hit.all(1), hit.any(1))  # all channels of a position together
    assert torch.equal(masked[~hit], x[~hit])
    assert abs(hit[:, 0].float().mean().item() - 0.25) < 0.02
    noisy = DenoisingAutoencoder(**TINY, image_size=8, noise="gaussian", noise_std=0.5).corrupt(x)
    assert abs((noisy - x).std().item() - 0.5) < 0.02
    model = DenoisingAutoencoder(**TINY, image_size=8)
    model.corrupt = lambda v: v + 100.0  # the loss must target the clean input
    out = model.decoder(model.backbone(x + 100.0))
    torch.testing.assert_close(model.training_loss([x])["loss"], F.mse_loss(out, x))


# ---------------------------------------------------------------------------------------------- VAE
def _vae(**kw) -> VAE:
    torch.manual_seed(0)
    return VAE(**TINY, image_size=8, latent_dim=4, **kw)


def test_vae_loss_applies_the_kl_weight():
    """lightning-bolts #328: a KL coefficient defined but never applied. The loss is recon + beta * KL."""
    x = torch.randn(6, 3, 8, 8)
    outs = {}
    for beta in (0.0, 1.0, 3.0):
        model = _vae(kl_weight=beta)
        torch.manual_seed(1)  # same reparameterisation noise
        outs[beta] = model.training_loss([x])
    for beta, out in outs.items():
        torch.testing.assert_close(out["loss"], out["recon"] + beta * out["kl"])
        assert float(out["kl_weight"]) == beta
    losses = [float(outs[beta]["loss"]) for beta in (0.0, 1.0, 3.0)]
    assert float(outs[0.0]["kl"]) > 0.01 and losses[0] < losses[1] < losses[2]


def test_vae_kl_warmup_and_free_bits():
    model = _vae(kl_weight=2.0, kl_warmup_steps=10)
    with patch.object(VAE, "global_step", new_callable=PropertyMock, return_value=5):
        assert model.current_kl_weight() == 1.0
    with patch.object(VAE, "global_step", new_callable=PropertyMock, return_value=50):
        assert model.current_kl_weight() == 2.0
    x = torch.randn(6, 3, 8, 8)
    model = _vae(free_bits=10.0)
    out = model.training_loss([x])
    torch.testing.assert_close(out["loss"], out["recon"] + 10.0 * 4)  # every dimension below its 10 free nats


def test_vae_embeds_the_posterior_mean_and_counts_active_units():
    model = _vae()
    x = torch.randn(5, 3, 8, 8)
    mu, _ = model.encode(x)
    torch.testing.assert_close(model.embed(x), mu)
    assert model.num_features == 4 and _vae(embed_mean=False).num_features == 8
    with torch.no_grad():  # dims 0 and 1 follow the features, dims 2 and 3 are constant
        model.posterior.weight[4:] = 0.0
        model.posterior.weight[2:4] = 0.0
        model.posterior.weight[:2] *= 100.0
    assert float(model.training_loss([x])["active_units"]) == 2.0


# ---------------------------------------------------------------------------------------------- GANs
@pytest.mark.parametrize("cls", [DCGAN, BiGAN])
def test_gan_steps_update_only_their_own_network_in_order(cls):
    x = torch.randn(8, 3, 8, 8)
    sides = {DCGAN: {"discriminator": ("backbone.", "head."), "generator": ("generator.",)},
             BiGAN: {"discriminator": ("discriminator.",), "generator": ("backbone.", "to_latent.", "generator.")}}[cls]
    for frozen in ("discriminator", "generator"):
        torch.manual_seed(0)
        sgd = {stage: (lambda p, lr=0.0 if stage == frozen else 0.1: torch.optim.SGD(p, lr=lr))
               for stage in ("discriminator", "generator")}
        model = cls(**TINY, image_size=8, latent_dim=4, optimizer=sgd["generator"],
                    discriminator_optimizer=sgd["discriminator"])
        calls = []
        original = model.training_loss

        def spy(views, stage):
            calls.append((stage, {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}))
            return original(views, stage=stage)

        model.training_loss = spy
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        _trainer(log_every_n_steps=1).fit(model, _loader([x, x]))
        assert [s for s, _ in calls] == ["discriminator", "generator"] * 2
        assert calls[0][1] == {p.rstrip(".") for p in sides["discriminator"]}
        assert calls[1][1] == {p.rstrip(".") for p in sides["generator"]}
        moved = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
        live = "generator" if frozen == "discriminator" else "discriminator"
        assert moved and all(n.startswith(sides[live]) for n in moved), (frozen, sorted(moved)[:5])


def test_discriminator_loss_falls_on_a_separable_toy_case():
    """Real images are stripes, the (frozen) generator's are not: D learns to tell them apart.

    (The toy differs in structure, not brightness: BatchNorm in D standardises each batch, real and fake apart.)"""
    torch.manual_seed(0)
    model = DCGAN(**TINY, image_size=8, latent_dim=4, **PIXELS, optimizer=lambda p: torch.optim.SGD(p, lr=0.0),
                  discriminator_optimizer=lambda p: torch.optim.Adam(p, lr=1e-2))
    stripes = (torch.arange(8) % 2).float().mul(2.0).expand(3, 8, 8)
    real = stripes + 0.1 * torch.randn(16, 3, 8, 8)
    losses, accs = [], []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(trainer.callback_metrics["train/discriminator_loss"]))
            accs.append(float(trainer.callback_metrics["train/discriminator_acc"]))

    _trainer(log_every_n_steps=1, callbacks=[Record()]).fit(model, _loader([real] * 60))
    assert losses[-1] < 0.5 * losses[0] and accs[-1] == 1.0, (losses[0], losses[-1], accs[-1])


def test_gan_previews():
    model = DCGAN(**TINY, image_size=8, latent_dim=4, **PIXELS).eval()
    x = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        samples = model.preview_images(x)
        torch.testing.assert_close(samples, model.preview_images(x))  # fixed codes
        assert samples.shape == (3, 3, 8, 8) and not model.preview_reconstructs
        pixels = samples * 0.385 + 0.305
        assert pixels.min() >= 0 and pixels.max() <= 1  # tanh output in [0, 1] pixels
        bigan = BiGAN(**TINY, image_size=8, latent_dim=4).eval()
        assert bigan.preview_images(x).shape == (6, 3, 8, 8)  # reconstructions G(E(x)), then samples


# ---------------------------------------------------------------------------------------------- DDPM
def _ddpm(**kw) -> DDPM:
    torch.manual_seed(0)
    return DDPM(**TINY, num_timesteps=100, preview_t=50, time_embed_dim=16, decoder_width=8, **kw)


def test_ddpm_is_timestep_conditioned_and_leaves_no_hooks():
    model = _ddpm().eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert model.denoise(x, torch.tensor([0, 0])).shape == x.shape
        early, late = model.encode(x, torch.tensor([0, 0])), model.encode(x, torch.tensor([90, 90]))
        assert not torch.allclose(early[0], late[0])  # the encoder itself sees t (not only the decoder)
        assert not torch.allclose(early[1][0], late[1][0]) and len(early[1]) == 2  # every stage's map
    assert all(not stage._forward_hooks for stage in model.backbone.stages)  # the backbone stays the plain one


def test_ddpm_embed_reads_the_encoder_at_the_configured_timestep():
    model = _ddpm(embed_t=20).eval()
    x = torch.randn(3, 3, 8, 8)
    t = torch.full((3,), 20)
    with torch.no_grad():
        xt = model.schedule.q_sample(x, t, model.fixed_noise(x))
        torch.testing.assert_close(model.embed(x), model.encode(xt, t)[0])
        torch.testing.assert_close(model.embed(x), model.embed(x))  # fixed-seed noise: deterministic
        model.embed_t = None
        torch.testing.assert_close(model.embed(x), model.encode(x, torch.zeros(3, dtype=torch.long))[0])
        model.embed_stage = 0
        assert model.embed(x).shape == (3, 4) and model.num_features == 4


def test_ddpm_decoder_readout_is_the_pooled_decoder_block_at_the_configured_timestep():
    x, t = torch.randn(3, 3, 8, 8), torch.full((3,), 5)
    for k in (0, 1, -1):
        model = _ddpm(embed_t=5, embed_readout="decoder", embed_decoder_block=k).eval()
        with torch.no_grad():
            xt = model.schedule.q_sample(x, t, model.fixed_noise(x))
            _, maps, emb = model.encode(xt, t)
            dec, h, run = model.decoder, None, []  # the U-Net decoder by hand, deepest stage first
            for i in reversed(range(len(maps))):
                lat = dec.lateral[i](maps[i])
                h = lat if h is None else F.interpolate(h, size=lat.shape[-2:], mode="nearest") + lat
                h = dec.blocks[i](h + dec.cond[i](emb)[:, :, None, None])
                run.append(h.mean(dim=(2, 3)))
            torch.testing.assert_close(model.embed(x), run[k])
        assert model.num_features == 8 and not any(b._forward_hooks for b in dec.blocks)
    assert not torch.allclose(run[0], run[-1])
    with pytest.raises(ValueError, match="embed_decoder_block"):
        _ddpm(embed_readout="decoder", embed_decoder_block=2)
    with pytest.raises(ValueError, match="embed_readout"):
        _ddpm(embed_readout="middle")


def test_ddpm_denoising_loss_falls():
    model = _ddpm()
    x = _digits("train", load_size=8)[:64]
    g = torch.Generator().manual_seed(0)
    t_eval = torch.randint(0, 100, (64,), generator=g)
    noise = torch.randn(x.shape, generator=g)

    def eval_loss() -> float:
        model.eval()
        with torch.no_grad():
            return F.mse_loss(model.denoise(model.schedule.q_sample(x, t_eval, noise), t_eval), noise).item()

    start = eval_loss()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):
        loss = model.training_loss([x])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert eval_loss() < 0.5 * start


def test_ddpm_previews():
    model = _ddpm().eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert model.preview_images(x).shape == (4, 3, 8, 8) and model.preview_reconstructs
        sampler = DDPM(**TINY, num_timesteps=5, preview_t=2, embed_t=None, time_embed_dim=16, decoder_width=8,
                       preview="sample").eval()
        assert sampler.preview_images(x).shape == (2, 3, 8, 8) and not sampler.preview_reconstructs
    with pytest.raises(ValueError, match="embed_t=100"):
        _ddpm(embed_t=100)


# ---------------------------------------------------------------------------------------------- ImageGrid
@pytest.fixture(scope="module")
def digits16():
    from sslkit.data import DigitsDataModule
    from sslkit.transforms import ViewAugment

    dm = DigitsDataModule(load_size=16, views=[ViewAugment(size=16)])
    dm.splits()
    return dm


def _fake_trainer(dm, root: Path, loggers=(), sanity=False) -> SimpleNamespace:
    return SimpleNamespace(sanity_checking=sanity, is_global_zero=True, datamodule=dm, current_epoch=3,
                           default_root_dir=str(root), loggers=list(loggers), global_step=7)


def _png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as img:
        return img.size


def test_image_grid_writes_a_png_of_the_right_size(digits16, tmp_path):
    model = Autoencoder(**TINY, image_size=16)
    logger = MagicMock(spec=WandbLogger)
    grid = ImageGrid(num_images=4, upscale=2, padding=2)
    grid.on_validation_epoch_end(_fake_trainer(digits16, tmp_path, [logger]), model)
    path = tmp_path / "images" / "3.png"
    assert grid.last_path == path and _png_size(path) == (4 * (32 + 2) + 2, 2 * (32 + 2) + 2)  # originals + outputs
    logger.log_image.assert_called_once_with(key="images/preview", images=[str(path)], step=7)
    assert model.training  # mode restored

    # the denoising autoencoder previews noisy inputs and reconstructions: three rows
    ImageGrid(num_images=4).on_validation_epoch_end(_fake_trainer(digits16, tmp_path / "dae"),
                                                    DenoisingAutoencoder(**TINY, image_size=16))
    assert _png_size(tmp_path / "dae" / "images" / "3.png") == (4 * 18 + 2, 3 * 18 + 2)
    ImageGrid(num_images=5).on_validation_epoch_end(_fake_trainer(digits16, tmp_path / "gan"),
                                                    DCGAN(**TINY, image_size=16, latent_dim=4))
    assert _png_size(tmp_path / "gan" / "images" / "3.png") == (5 * 18 + 2, 18 + 2)  # samples only


def test_image_grid_shows_the_inputs_unnormalised(digits16, tmp_path):
    from PIL import Image

    model = Autoencoder(**TINY, image_size=16)
    model.preview_images = lambda x: x  # a perfect reconstruction
    ImageGrid(num_images=2, padding=0).on_validation_epoch_end(_fake_trainer(digits16, tmp_path), model)
    png = torch.tensor(list(Image.open(tmp_path / "images" / "3.png").convert("L").getdata()), dtype=torch.float32)
    first = digits16.splits()["val"][0][0][0][0]  # the raw [0, 1] image (channel 0)
    torch.testing.assert_close(png.view(32, 32)[:16, :16] / 255, first, atol=1 / 255, rtol=0)


def test_image_grid_writes_nothing_without_previews_or_in_the_sanity_check(digits16, tmp_path):
    from sslkit.methods import SimCLR

    logger = MagicMock(spec=WandbLogger)
    simclr = SimCLR(**TINY, proj_hidden_dim=8, proj_output_dim=4)
    ImageGrid().on_validation_epoch_end(_fake_trainer(digits16, tmp_path, [logger]), simclr)
    ImageGrid().on_validation_epoch_end(_fake_trainer(digits16, tmp_path, [logger], sanity=True),
                                        Autoencoder(**TINY, image_size=16))
    assert not (tmp_path / "images").exists() and not logger.log_image.called
    with pytest.raises(ValueError, match="num_images"):
        ImageGrid(num_images=0)


def test_image_grid_in_a_real_fit(digits16, tmp_path):
    digits16.batch_size = 32
    model = Autoencoder(**TINY, image_size=16)
    L.Trainer(max_epochs=1, limit_train_batches=1, limit_val_batches=1, logger=False, enable_checkpointing=False,
              enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
              callbacks=[ImageGrid(num_images=3)]).fit(model, datamodule=digits16)
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["0.png"]  # not the sanity check's
