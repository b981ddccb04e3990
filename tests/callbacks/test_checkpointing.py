"""FinalCheckpoint: last.ckpt holds the weights training ended with, whatever the validation interval."""

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel

from conftest import RECIPES, run_cli
from sslkit.callbacks.checkpointing import FinalCheckpoint


def _fit(tmp_path, callback_cls, max_epochs=8, every=5) -> tuple[dict, L.LightningModule, int]:
    model = BoringModel()
    trainer = L.Trainer(max_epochs=max_epochs, check_val_every_n_epoch=every, limit_train_batches=2,
                        limit_val_batches=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[callback_cls(dirpath=tmp_path, save_last=True)])
    trainer.fit(model)
    return torch.load(tmp_path / "last.ckpt", weights_only=False), model, trainer.global_step


@pytest.mark.parametrize("cls, final", [(FinalCheckpoint, True), (ModelCheckpoint, False)])
def test_last_ckpt_holds_the_final_weights(tmp_path, cls, final):
    """Validation at epoch 5 of 8: Lightning's own last.ckpt stops at step 10 (the control), ours at step 16."""
    ckpt, model, steps = _fit(tmp_path, cls)
    assert steps == 16
    assert (ckpt["global_step"] == 16) is final
    same = all(torch.equal(ckpt["state_dict"][k], v) for k, v in model.state_dict().items())
    assert same is final


def test_no_second_save_when_the_last_step_is_saved(tmp_path):
    """Validation at the last epoch already wrote last.ckpt for the final step: nothing is written twice."""
    ckpt, _, steps = _fit(tmp_path, FinalCheckpoint, max_epochs=4, every=2)
    assert ckpt["global_step"] == steps == 8


def test_the_cli_default_checkpoint_is_final(tmp_path):
    run_cli("fit", "--config", str(RECIPES / "pretrain/digits/simclr.yaml"), f"--trainer.default_root_dir={tmp_path}",
            "--trainer.max_epochs=3", "--trainer.check_val_every_n_epoch=2", "--trainer.limit_train_batches=2",
            "--trainer.callbacks=[]", "--trainer.logger=false", "--wandb.mode=disabled")
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 6  # 3 epochs x 2 steps; Lightning's own callback would stop at 4
