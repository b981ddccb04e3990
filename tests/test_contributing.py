"""The worked example in CONTRIBUTING.md is real code: extract it, train it briefly, check it learns."""

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


def test_example_loss_by_hand():
    loss = load_example()["AlignUniformLoss"](alpha=2.0, t=2.0)
    # identical views: alignment 0; two antipodal points per view: |z_i - z_j|^2 = 4, so uniformity
    # is log(exp(-2 * 4)) = -8 for each view
    z = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    assert loss(z, z.clone()).item() == pytest.approx(-8.0)
    with pytest.raises(ValueError):
        load_example()["AlignUniformLoss"](t=0)


def test_example_method_trains(digits):
    ns = load_example()
    L.seed_everything(0)
    model = ns["AlignUniform"](backbone="tiny_cnn", backbone_kwargs={"widths": [16, 32]}, num_classes=10,
                               proj_hidden_dim=64, proj_output_dim=32,
                               optimizer=lambda p: torch.optim.AdamW(p, lr=3e-3))
    losses = []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(outputs["loss"].item())

    trainer = L.Trainer(max_epochs=3, limit_train_batches=8, limit_val_batches=0, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[Record()])
    trainer.fit(model, datamodule=digits)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 0.05
