"""SpeedMonitor: images/s after the warm-up, loss windows and finiteness, JSON summary."""

from __future__ import annotations

import json

import lightning as L
import pytest

from sslkit.callbacks import SpeedMonitor
from sslkit.data import SyntheticImageDataModule
from sslkit.methods import SimCLR
from sslkit.transforms import ViewAugment


def test_speed_monitor_summary(tmp_path):
    dm = SyntheticImageDataModule(train_size=64, val_size=8, test_size=8, image_size=8, batch_size=8,
                                  views=[ViewAugment(size=8, num_views=2)])
    monitor = SpeedMonitor(warmup_steps=2, every_n_steps=2, window=2, out=str(tmp_path / "speed.json"))
    model = SimCLR(backbone="tiny_cnn", backbone_kwargs={"widths": [4]}, proj_hidden_dim=8, proj_output_dim=4)
    trainer = L.Trainer(accelerator="cpu", max_steps=6, logger=False, enable_checkpointing=False, limit_val_batches=0,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[monitor])
    trainer.fit(model, datamodule=dm)
    s = json.loads((tmp_path / "speed.json").read_text())
    assert s == monitor.summary
    assert s["steps"] == 6 and s["timed_steps"] == 4 and s["images_per_sec"] > 0 and s["loss_finite"] is True
    assert s["loss_first"] != s["loss_last"]  # two windows of 2 steps, not the same steps
    assert "speed/images_per_sec" in trainer.callback_metrics


def test_speed_monitor_rejects_bad_arguments():
    with pytest.raises(ValueError):
        SpeedMonitor(every_n_steps=0)


def test_speed_monitor_without_warmup_times_from_the_first_step():
    """warmup_steps=0: the clock starts with training (it used to count from time 0: a rate of ~1e-3 images/s)."""
    import time

    dm = SyntheticImageDataModule(train_size=32, val_size=8, test_size=8, image_size=8, batch_size=8,
                                  views=[ViewAugment(size=8, num_views=2)])
    monitor = SpeedMonitor(warmup_steps=0)
    model = SimCLR(backbone="tiny_cnn", backbone_kwargs={"widths": [4]}, proj_hidden_dim=8, proj_output_dim=4)
    trainer = L.Trainer(accelerator="cpu", max_steps=3, logger=False, enable_checkpointing=False, limit_val_batches=0,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[monitor])
    start = time.perf_counter()
    trainer.fit(model, datamodule=dm)
    wall = time.perf_counter() - start
    assert monitor.summary["timed_steps"] == 3
    assert monitor.summary["images_per_sec"] >= 24 / wall  # 3 batches of 8 within the fit's wall time
