"""The worked example in CONTRIBUTING.md is real code: extract it, check its labels, train it briefly, check it learns."""

import re

import lightning as L
import pytest
import torch

from conftest import ROOT


def load_example() -> dict:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    code = re.search(r"<!-- example-method -->\s*```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "CONTRIBUTING.md", "exec"), namespace)
    return namespace


def test_example_labels_match_the_flip_applied():
    ns = load_example()
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    images, labels = ns["flip_batch"](x)
    assert labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    for img, k, original in zip(images, labels, x.repeat(4, 1, 1, 1)):
        dims = ns["FLIPS"][int(k)]
        undone = img.flip(dims) if dims else img  # a flip is its own inverse
        assert torch.equal(undone, original)
    with pytest.raises(ValueError, match="label_smoothing"):
        ns["FlipPrediction"](backbone_kwargs={"widths": [4]}, label_smoothing=1.0)


def test_example_method_trains():
    from sslkit.data import DigitsDataModule
    from sslkit.transforms import ViewAugment

    ns = load_example()
    L.seed_everything(0)
    dm = DigitsDataModule(load_size=16, batch_size=64, views=[ViewAugment(size=16, num_views=1, crop_scale=(0.6, 1.0),
                                                                           hflip_prob=0.0)])
    model = ns["FlipPrediction"](backbone="tiny_cnn", backbone_kwargs={"widths": [16, 32]}, num_classes=10,
                                 hidden_dim=64, optimizer=lambda p: torch.optim.AdamW(p, lr=3e-3))
    losses, accs = [], []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(outputs["loss"].item())
            accs.append(float(trainer.callback_metrics["train/flip_acc"]))

    trainer = L.Trainer(max_epochs=3, limit_train_batches=8, limit_val_batches=0, logger=False, log_every_n_steps=1,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[Record()])
    trainer.fit(model, datamodule=dm)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 0.1
    assert sum(accs[-4:]) / 4 > 0.5  # chance is 0.25


def test_example_method_refuses_two_views():
    model = load_example()["FlipPrediction"](backbone_kwargs={"widths": [4]}, hidden_dim=8)
    with pytest.raises(ValueError, match="FlipPrediction needs exactly 1 view"):
        model.training_step(([torch.rand(2, 3, 8, 8)] * 2, torch.zeros(2, dtype=torch.long)), 0)
