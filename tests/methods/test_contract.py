"""One contract test over every method class: built from its own CPU recipe, 2 training steps and 1 validation
step through a real Trainer, finite logged loss, parameters changed, ``embed`` shape, state-dict round trip.

Methods are found by :func:`sslkit.methods.all_methods` (no hand-kept list); each must have a recipe under
``recipes/pretrain/digits/`` (or ``recipes/pretrain/text/`` for text methods) whose ``class_path`` names it.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml

from conftest import RECIPES
from sslkit.methods import SSLMethod, all_methods, load_method

CPU_RECIPE_DIRS = ("digits", "text", "video")


def recipe_for(cls: type) -> Path:
    """The first CPU recipe whose model is ``cls`` (``*_scratch`` text recipes first: no pretrained weights)."""
    for folder in CPU_RECIPE_DIRS:
        for path in sorted((RECIPES / "pretrain" / folder).glob("*.yaml"), key=lambda p: "scratch" not in p.name):
            model = (yaml.safe_load(path.read_text()) or {}).get("model") or {}
            if model.get("class_path") == f"sslkit.methods.{cls.__name__}":
                return path
    raise AssertionError(f"{cls.__name__} has no recipe in recipes/pretrain/{{{','.join(CPU_RECIPE_DIRS)}}}/")


class Watch(L.Callback):
    """Records the training losses and the validation outputs the evaluation callbacks would see."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.val_outputs: list[dict] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        assert set(outputs) >= {"loss", "labels"}
        if "features" in outputs:
            assert not outputs["features"].requires_grad
            assert outputs["features"].shape == (outputs["labels"].shape[0], pl_module.num_features)
        self.losses.append(float(outputs["loss"]))

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self.val_outputs.append(outputs)


def build(recipe: Path, root: Path):
    from sslkit.cli import SSLKitCLI

    args = ["--config", str(recipe), f"--trainer.default_root_dir={root}", "--trainer.max_epochs=1",
            "--trainer.max_steps=-1", "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1",
            "--trainer.num_sanity_val_steps=0", "--trainer.val_check_interval=1.0", "--trainer.check_val_every_n_epoch=1",
            "--trainer.callbacks=[]", "--trainer.logger=false", "--trainer.enable_checkpointing=false",
            "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", "--wandb.mode=disabled"]
    return SSLKitCLI(args=args, run=False)


def test_every_method_is_found():
    names = {c.__name__ for c in all_methods()}
    assert {"SimCLR", "BYOL", "DINO", "SwAV", "MaskedLM"} <= names
    assert "SSLMethod" not in names


def test_every_method_is_exported_once_from_sslkit_methods():
    """The re-exports are generated from the families' __all__: every method class, each under its own name."""
    import sslkit.methods as methods

    exported = {n for n in methods.__all__ if n not in ("SSLMethod", "Stage", "all_methods", "load_method")}
    assert exported == {c.__name__ for c in all_methods()}
    assert len(methods.__all__) == len(set(methods.__all__))
    assert all(getattr(methods, c.__name__) is c for c in all_methods())


@pytest.mark.parametrize("cls", all_methods(), ids=lambda c: c.__name__)
def test_method_contract(cls: type[SSLMethod], tmp_path: Path) -> None:
    cli = build(recipe_for(cls), tmp_path)
    model, trainer = cli.model, cli.trainer
    assert type(model) is cls
    watch = Watch()
    trainer.callbacks.append(watch)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    trainer.fit(model, datamodule=cli.datamodule)

    assert len(watch.losses) == 2 and all(math.isfinite(v) for v in watch.losses), watch.losses
    assert math.isfinite(float(trainer.callback_metrics["train/loss"]))
    changed = [n for n, p in model.named_parameters() if n in before and not torch.equal(p, before[n])]
    assert any(n.startswith("backbone.") for n in changed), f"{cls.__name__}: no backbone parameter changed"
    assert all(torch.isfinite(p).all() for p in model.parameters())

    assert watch.val_outputs, "no validation step ran"
    out = watch.val_outputs[0]
    assert out["features"].shape == (out["labels"].shape[0], model.num_features)

    path = tmp_path / "contract.ckpt"
    trainer.save_checkpoint(path)
    reloaded = load_method(path)
    assert type(reloaded) is cls
    state, again = model.state_dict(), reloaded.state_dict()
    assert state.keys() == again.keys()
    assert all(torch.equal(state[k].cpu(), again[k]) for k in state)
    batch = next(iter(cli.datamodule.val_dataloader()[-1]))
    x = SSLMethod.split_batch(batch)[0]
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model.embed(x), reloaded.embed(x))
        fresh = model.initial_copy().eval()  # the summary's "at initialisation" baseline
        assert type(fresh) is cls and fresh.embed(x).shape == model.embed(x).shape
