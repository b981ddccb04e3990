"""The method contract of SSLMethod: loss terms logged, view checks, several optimizers, stage features."""

from __future__ import annotations

import lightning as L
import pytest
import torch
import torch.nn.functional as F
import torchmetrics
from torch import nn
from torch.utils.data import DataLoader

from sslkit.methods import SimCLR, SSLMethod, Stage

TINY = {"backbone": "tiny_cnn", "backbone_kwargs": {"widths": [4, 8]}}


def _data(n_batches: int = 3, views: int = 1) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    data = [([torch.randn(4, 3, 8, 8, generator=g) for _ in range(views)], torch.arange(4) % 2) for _ in range(n_batches)]
    return DataLoader(data, batch_size=None)


def _trainer(**kw) -> L.Trainer:
    return L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, num_sanity_val_steps=0, **kw)


class Rotation4(SSLMethod):
    """A single-view toy objective with two named terms."""

    num_views = (1, 1)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.head = nn.Linear(self.backbone.num_features, 4)

    def training_loss(self, views):
        x = views[0]
        k = torch.arange(x.shape[0]) % 4
        rotated = torch.stack([torch.rot90(img, int(r), dims=(1, 2)) for img, r in zip(x, k)])
        ce = F.cross_entropy(self.head(self.backbone(rotated)), k)
        return {"loss": ce, "rotation_ce": ce.detach(), "constant": 3.0}


def test_terms_are_logged_and_features_default_to_eval_mode_embeddings():
    model = Rotation4(**TINY, optimizer=lambda p: torch.optim.SGD(p, lr=0.1))
    trainer = _trainer(log_every_n_steps=1)
    trainer.fit(model, _data())
    assert {"train/loss", "train/rotation_ce", "train/constant"} <= set(trainer.callback_metrics)
    assert float(trainer.callback_metrics["train/constant"]) == 3.0
    torch.testing.assert_close(trainer.callback_metrics["train/loss"], trainer.callback_metrics["train/rotation_ce"])

    # outside a fit: no extra forward pass for features the method did not return
    model = Rotation4(**TINY)
    x, labels = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, -1, 1])
    calls = []
    model.backbone.register_forward_hook(lambda *a: calls.append(1))
    out = model.training_step(([x], labels), 0)
    assert set(out) == {"loss", "labels"} and torch.equal(out["labels"], labels) and len(calls) == 1


def test_view_count_is_checked_with_the_fix():
    model = Rotation4(**TINY)
    with pytest.raises(ValueError, match=r"Rotation4 needs exactly 1 view\(s\) per image, the DataModule gives 2; set num_views"):
        model.training_step(([torch.randn(2, 3, 8, 8)] * 2, torch.zeros(2, dtype=torch.long)), 0)
    multi_crop = SimCLR(**TINY, proj_hidden_dim=8, proj_output_dim=4)
    multi_crop.num_views = (2, None)
    multi_crop.check_views([torch.randn(1)] * 6)
    with pytest.raises(ValueError, match="at least 2"):
        multi_crop.check_views([torch.randn(1)])
    from sslkit.methods import FutureFrame  # frames, not augmentations: the fix names the clip DataModule

    clips = FutureFrame(backbone="tiny_cnn", backbone_kwargs={"widths": [4, 8]}, context_frames=2, horizon=1)
    with pytest.raises(ValueError, match=r"at least 3 view.*MovingDigitsDataModule.*num_frames >= context_frames"):
        clips.check_views([torch.randn(1)] * 2)


class TwoPlayers(SSLMethod):
    """Two optimizers: a 'critic' head trained first, then the backbone + 'actor' head against it."""

    def __init__(self, critic_optimizer=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.actor = nn.Linear(self.backbone.num_features, 2)
        self.critic = nn.Linear(self.backbone.num_features, 2)
        self.critic_optimizer = critic_optimizer or (lambda p: torch.optim.SGD(p, lr=0.5))
        self.calls: list[tuple[str, set[str]]] = []

    def optimizer_stages(self):
        return [Stage("critic", [self.critic], self.critic_optimizer),
                Stage("actor", [self.backbone, self.actor], self.optimizer, self.lr_scheduler)]

    def training_loss(self, views, stage):
        trainable = {n.split(".")[0] for n, p in self.named_parameters() if p.requires_grad}
        self.calls.append((stage, trainable))
        f = self.backbone(views[0])
        if stage == "critic":
            return {"loss": self.critic(f.detach()).pow(2).mean()}
        return {"loss": (self.actor(f) - self.critic(f)).pow(2).mean(), "gap": torch.tensor(1.0)}


def test_several_optimizers_step_in_order_and_touch_only_their_own_parameters():
    model = TwoPlayers(**TINY, optimizer=lambda p: torch.optim.SGD(p, lr=0.5))
    model.num_views = (1, 1)
    assert model.automatic_optimization is False
    snapshots = []

    class Snap(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            snapshots.append({n: p.detach().clone() for n, p in pl_module.named_parameters()})

    trainer = _trainer(callbacks=[Snap()], log_every_n_steps=1)
    trainer.fit(model, _data(n_batches=2))
    # each stage's loss is computed with only its own parameters trainable (toggle_optimizer)
    assert [s for s, _ in model.calls] == ["critic", "actor"] * 2
    assert model.calls[0][1] == {"critic"} and model.calls[1][1] == {"backbone", "actor"}
    # both optimizers stepped on every batch: two optimizer steps per batch
    assert trainer.global_step == 4
    after = dict(model.named_parameters())
    for name in ("critic.weight", "actor.weight", "backbone.stages.0.0.weight"):
        assert not torch.equal(after[name].detach(), snapshots[0][name]), name
    assert {"train/critic_loss", "train/actor_loss", "train/actor_gap", "train/loss"} <= set(trainer.callback_metrics)
    total = trainer.callback_metrics["train/critic_loss"] + trainer.callback_metrics["train/actor_loss"]
    torch.testing.assert_close(trainer.callback_metrics["train/loss"], total)


def test_critic_step_leaves_the_actor_side_untouched():
    torch.manual_seed(0)
    model = TwoPlayers(**TINY, optimizer=lambda p: torch.optim.SGD(p, lr=0.0))  # actor side never moves
    model.num_views = (1, 1)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _trainer().fit(model, _data(n_batches=2))
    for n, p in model.named_parameters():
        moved = not torch.equal(p.detach(), before[n])
        assert moved == n.startswith("critic."), n


def test_embed_stage_reads_a_middle_stage_everywhere():
    model = SimCLR(**{"backbone": "tiny_cnn", "backbone_kwargs": {"widths": [4, 8, 16]}}, proj_hidden_dim=8,
                   proj_output_dim=4, embed_stage=1)
    assert model.num_features == 8 and model.backbone.num_features == 16
    x = torch.randn(5, 3, 16, 16)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model.embed(x), model.backbone.stages[1](model.backbone.stages[0](x)).mean((2, 3)))
    model.train()
    out = model.training_step(([x, x.flip(-1)], torch.zeros(5, dtype=torch.long)), 0)
    assert "features" not in out  # SimCLR's own features are final-stage ones: not passed on
    assert model.validation_step((x, torch.zeros(5, dtype=torch.long)), 0)["features"].shape == (5, 8)
    with pytest.raises(ValueError, match="out of range"):
        SimCLR(**TINY, proj_hidden_dim=8, proj_output_dim=4, embed_stage=5)


def test_initial_copy_rebuilds_every_module_that_embed_reads():
    from sslkit.methods import VAE

    torch.manual_seed(0)
    vae = VAE(latent_dim=4, image_size=8, **TINY)
    with torch.no_grad():  # "training": the posterior head that embed reads moves away from its init
        for p in vae.parameters():
            p.add_(1.0)
    torch.manual_seed(1)
    fresh = vae.initial_copy()
    torch.manual_seed(1)
    again = VAE(latent_dim=4, image_size=8, **TINY)
    assert type(fresh) is VAE and fresh.state_dict().keys() == vae.state_dict().keys()
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k  # the same as building it anew, head included
    assert not torch.equal(fresh.posterior.weight, vae.posterior.weight)  # control: swapping only the backbone
    x = torch.randn(2, 3, 8, 8)                                             # would keep the trained head
    assert torch.allclose(fresh.eval().embed(x), again.eval().embed(x))


def test_optimizers_of_every_stage_stay_out_of_the_hyperparameters():
    from sslkit.methods import DCGAN

    gan = DCGAN(latent_dim=4, image_size=8, discriminator_optimizer=torch.optim.SGD, optimizer=torch.optim.Adam, **TINY)
    assert gan.hparams["latent_dim"] == 4 and gan.hparams["backbone"] == "tiny_cnn"
    assert not {"optimizer", "lr_scheduler", "discriminator_optimizer", "discriminator_lr_scheduler"} & set(gan.hparams)
    assert not any(callable(v) for v in gan.hparams_initial.values())


class _SumCount(torchmetrics.Metric):
    """Sum and number of the validation labels seen: values easy to compute by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, labels: torch.Tensor) -> None:
        self.total += labels.sum()
        self.count += labels.numel()

    def compute(self) -> dict[str, torch.Tensor]:
        return {"label_sum": self.total, "seen": self.count.float()}


class WithValMetric(Rotation4):
    val_metric_names = {"seen": "items"}

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.val_metric = _SumCount()

    def validation_metrics(self):
        return self.val_metric

    def validation_outputs(self, inputs):
        self.val_metric.update(torch.full((inputs.shape[0],), 2.0))
        return super().validation_outputs(inputs)


def test_validation_metrics_are_logged_renamed_and_reset_by_the_base():
    """3 batches of 4 clean images, each updating with label 2: val/label_sum = 24, val/items = 12, every validation."""
    model = WithValMetric(**TINY)
    clean = DataLoader([(torch.randn(4, 3, 8, 8), torch.arange(4) % 2) for _ in range(3)], batch_size=None)
    trainer = _trainer()
    for _ in range(2):  # reset between validations: the second reads the same, not twice as much
        trainer.validate(model, clean, verbose=False)
        assert float(trainer.callback_metrics["val/label_sum"]) == 24.0
        assert float(trainer.callback_metrics["val/items"]) == 12.0 and "val/seen" not in trainer.callback_metrics
    assert int(model.val_metric.count) == 0
    trainer = _trainer()
    trainer.validate(Rotation4(**TINY), clean, verbose=False)  # no metric: nothing logged
    assert not any(k.startswith("val/") for k in trainer.callback_metrics)
