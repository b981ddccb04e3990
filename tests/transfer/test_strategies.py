"""Transfer strategies: what is frozen stays bit-identical, what trains has the right learning rate."""

import functools

import lightning as L
import pytest
import torch
from torch import nn

from sslkit.data import DigitsDataModule, LabelledDataModule
from sslkit.transfer import TransferClassifier
from sslkit.transfer.freezing import backbone_stages, layer_decay_groups
from sslkit.transforms import ViewAugment

WIDTHS = {"widths": [8, 16]}


def _dm(augment=None, fraction=0.1):
    src = DigitsDataModule(load_size=16, views=[ViewAugment(size=16, num_views=1)])
    return LabelledDataModule(src, label_fraction=fraction, batch_size=32, augment=augment)


def _fit(model, dm, steps=6):
    L.seed_everything(0, verbose=False)
    trainer = L.Trainer(max_steps=steps, max_epochs=-1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0)
    trainer.fit(model, datamodule=dm)
    return trainer


def _opt(lr=1e-2):
    return functools.partial(torch.optim.AdamW, lr=lr, weight_decay=0.0)


def test_linear_probe_keeps_backbone_bit_identical_and_caches_features():
    model = TransferClassifier(num_classes=10, backbone_kwargs=WIDTHS, strategy="linear", optimizer=_opt())
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}  # weights and BN buffers
    head_before = model.head[-1].weight.clone()
    dm = _dm()
    _fit(model, dm, steps=8)
    assert model._cached and dm._features is not None and dm.dataset("train")[0][0].shape == (16,)
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not torch.equal(model.head[-1].weight, head_before)  # the head did train
    assert sum(p.requires_grad for p in model.backbone.parameters()) == 0


def test_linear_probe_with_augmentation_does_not_cache():
    dm = _dm(augment=ViewAugment(size=16, num_views=1, crop_scale=(0.6, 1.0), jitter_prob=0.0, grayscale_prob=0.0))
    model = TransferClassifier(num_classes=10, backbone_kwargs=WIDTHS, strategy="linear", optimizer=_opt())
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    _fit(model, dm, steps=3)
    assert not model._cached and dm._features is None
    assert all(torch.equal(v, before[k]) for k, v in model.backbone.state_dict().items())


def test_partial_freezes_exactly_the_named_stages_and_their_bn_stats():
    model = TransferClassifier(num_classes=10, backbone_kwargs={"widths": [8, 16, 16]}, strategy="partial",
                               freeze_stages=2, optimizer=_opt())
    frozen = {n for n, p in model.backbone.named_parameters() if not p.requires_grad}
    assert frozen == {n for n, _ in model.backbone.named_parameters() if n.startswith(("stages.0.", "stages.1."))}
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    _fit(model, _dm(), steps=4)
    model.train()  # what Lightning calls each epoch: frozen BN must stay in eval mode
    assert not model.backbone.stages[0][1].training and model.backbone.stages[2][1].training
    for k, v in model.backbone.state_dict().items():
        if k.startswith(("stages.0.", "stages.1.")):
            assert torch.equal(v, before[k]), k  # weights and running_mean/var/num_batches_tracked
        elif k.endswith("running_mean"):
            assert not torch.equal(v, before[k]), k  # the trainable stage did update its statistics
    with pytest.raises(ValueError, match="freeze_stages"):
        TransferClassifier(num_classes=10, backbone_kwargs=WIDTHS, strategy="partial", freeze_stages=3)


def test_layer_decay_param_groups_have_hand_computed_learning_rates():
    model = TransferClassifier(num_classes=10, backbone_kwargs={"widths": [4, 4, 4]}, strategy="finetune",
                               layer_decay=0.5, backbone_lr_scale=0.8, optimizer=_opt(lr=0.1))
    opt = model.configure_optimizers()
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    # 3 stages: stage i has depth i+1, scale 0.8 * 0.5 ** (4 - (i + 1)); the head trains at the base rate
    assert lrs["head"] == pytest.approx(0.1) and lrs["head/no_wd"] == pytest.approx(0.1)
    assert lrs["backbone/depth3"] == pytest.approx(0.1 * 0.8 * 0.5)
    assert lrs["backbone/depth2"] == pytest.approx(0.1 * 0.8 * 0.25)
    assert lrs["backbone/depth1"] == pytest.approx(0.1 * 0.8 * 0.125)
    assert lrs["backbone/depth1/no_wd"] == pytest.approx(0.1 * 0.8 * 0.125)
    assert {g["name"]: g.get("weight_decay") for g in opt.param_groups}["backbone/depth2/no_wd"] == 0.0
    n = sum(p.numel() for g in opt.param_groups for p in g["params"])
    assert n == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_stage_discovery_on_timm_and_torchvision():
    from sslkit.backbones import create_backbone

    assert [n for n, _ in backbone_stages(create_backbone("timm:resnet18"))] == [f"model.layer{i}" for i in range(1, 5)]
    assert [n for n, _ in backbone_stages(create_backbone("torchvision:resnet18"))] == [f"model.layer{i}" for i in range(1, 5)]
    vit = create_backbone("timm:vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2)
    groups = layer_decay_groups(vit, nn.Linear(vit.num_features, 2), layer_decay=0.5)
    scales = {g["name"]: g["lr_scale"] for g in groups}
    assert scales["backbone/depth0"] == 0.125 and scales["backbone/depth3/no_wd"] == 1.0  # patch embed; final norm


def test_lora_trains_only_adapters_and_head():
    model = TransferClassifier(num_classes=10, backbone_kwargs=WIDTHS, strategy="lora", adapter_kwargs={"r": 2},
                               optimizer=_opt())
    trainable = {n: p.numel() for n, p in model.named_parameters() if p.requires_grad}
    assert all("lora_" in n or n.startswith("head.") for n in trainable)
    # 4 convs (3x3): lora_A conv (in -> r, 3x3) + lora_B conv (r -> out, 1x1); head 16*10 + 10
    convs = [(3, 8), (8, 8), (8, 16), (16, 16)]
    expected = sum(2 * cin * 9 + cout * 2 for cin, cout in convs) + 16 * 10 + 10
    assert sum(trainable.values()) == expected
    base = {k: v.clone() for k, v in model.backbone.state_dict().items() if "lora_" not in k}
    lora_b = model.backbone.stages[0][0].lora_B["default"].weight.clone()
    _fit(model, _dm(), steps=4)
    state = model.backbone.state_dict()
    assert all(torch.equal(state[k], v) for k, v in base.items())  # base weights and BN stats untouched
    assert not torch.equal(model.backbone.stages[0][0].lora_B["default"].weight, lora_b)


@pytest.mark.slow
def test_checkpoint_backbone_source_and_cli_fit(tmp_path, simclr_ckpt):
    from conftest import RECIPES, column, read_metrics, run_cli

    run_cli("fit", "--config", str(RECIPES / "transfer/digits/finetune.yaml"), f"--trainer.default_root_dir={tmp_path}",
            "--trainer.max_steps=30", f"--model.init_args.checkpoint={simclr_ckpt}", "--data.init_args.label_fraction=0.1",
            "--wandb.mode=disabled")
    rows = read_metrics(tmp_path)
    val = column(rows, "val/acc")
    assert column(rows, "train/loss") and val and val[-1] > 0.5  # chance is 0.1
    sd = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert sd["hyper_parameters"]["backbone"] == "tiny_cnn"
