"""Dashboard callbacks: the views grid, the embedding map and the retrieval grid (files first, then W&B)."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import MagicMock

import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import WandbLogger
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset

from sslkit.callbacks import EmbeddingMap, RetrievalGrid, ViewsGrid
from sslkit.callbacks.dashboard import embedding_map
from sslkit.data.base import BANK_LOADER, VAL_LOADER

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def fake_trainer(root: Path, loggers=(), sanity=False, epoch=3, bank=None) -> SimpleNamespace:
    return SimpleNamespace(sanity_checking=sanity, is_global_zero=True, current_epoch=epoch, global_step=11,
                           default_root_dir=str(root), loggers=list(loggers), val_dataloaders=[bank, None],
                           datamodule=SimpleNamespace(mean=MEAN, std=STD))


def png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


# ---------------------------------------------------------------------------------------------- ViewsGrid
def test_views_grid_one_row_per_view_once_per_run(tmp_path):
    logger = MagicMock(spec=WandbLogger)
    views = [torch.zeros(5, 3, 8, 8), torch.ones(5, 3, 8, 8), torch.full((5, 3, 4, 4), -2.0)]  # a multi-crop view too
    cb = ViewsGrid(num_images=4, upscale=2, padding=1)
    trainer = fake_trainer(tmp_path, [logger])
    cb.on_train_batch_start(trainer, None, (views, torch.zeros(5)), 0)
    path = tmp_path / "dashboard" / "views.png"
    img = png(path)
    assert cb.last_path == path and img.shape == (3 * 17 + 1, 4 * 17 + 1, 3)  # 3 rows, 4 columns of 16 px + padding
    # un-normalised: view 0 = mean (0.5 -> 128), view 1 = mean + std (0.75 -> 191), view 2 clipped to 0
    assert img[1 + 8, 1 + 8].tolist() == [128] * 3 and img[18 + 8, 1 + 8].tolist() == [191] * 3
    assert img[35 + 8, 1 + 8].tolist() == [0] * 3
    logger.log_image.assert_called_once_with(key="dash/views", images=[str(path)], step=11)
    path.unlink()
    cb.on_train_batch_start(trainer, None, (views, torch.zeros(5)), 1)  # once per run
    assert not path.exists() and cb.state_dict() == {"done": True}
    fresh = ViewsGrid()
    fresh.load_state_dict({"done": True})  # a resumed run does not make it again
    fresh.on_train_batch_start(trainer, None, (views, torch.zeros(5)), 0)
    assert not path.exists()


def test_views_grid_skips_text_batches_and_checks_arguments(tmp_path):
    cb = ViewsGrid()
    cb.on_train_batch_start(fake_trainer(tmp_path), None, {"input_ids": torch.zeros(2, 5)}, 0)
    assert not (tmp_path / "dashboard").exists()
    with pytest.raises(ValueError, match="num_images"):
        ViewsGrid(num_images=0)


# ---------------------------------------------------------------------------------------------- EmbeddingMap
def _validate(cb, trainer, feats, labels, batch=16):
    cb.on_validation_epoch_start(trainer, None)
    for i in range(0, len(feats), batch):  # the bank loader is ignored: only validation images are mapped
        cb.on_validation_batch_end(trainer, None, {"features": feats[i:i + batch] * 0, "labels": labels[i:i + batch]},
                                   None, 0, BANK_LOADER)
        cb.on_validation_batch_end(trainer, None, {"features": feats[i:i + batch], "labels": labels[i:i + batch]},
                                   None, 0, VAL_LOADER)
    cb.on_validation_epoch_end(trainer, None)


def _clusters(n=60, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    centres = torch.randn(3, d, generator=g) * 5
    return centres[labels] + 0.1 * torch.randn(n, d, generator=g), labels


def test_embedding_map_every_n_validations_and_at_fit_end(tmp_path):
    feats, labels = _clusters()
    cb = EmbeddingMap(every_n_validations=2, max_points=50, method="pca")
    folder = tmp_path / "dashboard" / "embedding_map"
    _validate(cb, fake_trainer(tmp_path, epoch=0), feats, labels)
    assert not folder.exists()  # first validation: not yet
    _validate(cb, fake_trainer(tmp_path, epoch=1), feats, labels)
    assert sorted(p.name for p in folder.iterdir()) == ["1.csv", "1.png"]
    with open(folder / "1.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 50 and [int(r["label"]) for r in rows] == labels[:50].tolist()  # capped at max_points, in order
    xy = np.array([[float(r["x"]), float(r["y"])] for r in rows])
    centre = {c: xy[labels[:50].numpy() == c].mean(0) for c in range(3)}
    spread = max(np.abs(xy[labels[:50].numpy() == c] - centre[c]).max() for c in range(3))
    assert spread < 0.5 * min(np.linalg.norm(centre[a] - centre[b]) for a in range(3) for b in range(a))  # clusters kept
    cb.on_fit_end(fake_trainer(tmp_path, epoch=1), None)  # the last validation has its map already: nothing new
    assert len(list(folder.iterdir())) == 2
    _validate(cb, fake_trainer(tmp_path, epoch=2), feats, labels)  # third validation: not a multiple of 2
    cb.on_fit_end(fake_trainer(tmp_path, epoch=2), None)  # ... so fit end maps it
    assert sorted(p.name for p in folder.iterdir()) == ["1.csv", "1.png", "2.csv", "2.png"]
    assert cb.state_dict() == {"validations": 3}


def test_embedding_map_logs_image_table_and_scatter_to_wandb(tmp_path, monkeypatch):
    import wandb

    logger = MagicMock(spec=WandbLogger)
    feats, labels = _clusters(20)
    cb = EmbeddingMap(every_n_validations=1, method="pca")
    _validate(cb, fake_trainer(tmp_path, [logger], epoch=4), feats, labels)
    path = tmp_path / "dashboard" / "embedding_map" / "4.png"
    logger.log_image.assert_called_once_with(key="dash/embedding_map", images=[str(path)], step=11)
    (items,), kwargs = logger.log_metrics.call_args
    assert kwargs == {"step": 11} and set(items) == {"dash/embedding_points", "dash/embedding_scatter"}
    table = items["dash/embedding_points"]
    assert isinstance(table, wandb.Table) and table.columns == ["x", "y", "label", "epoch"] and len(table.data) == 20
    assert [row[2] for row in table.data] == [str(int(y)) for y in labels]


def test_embedding_map_falls_back_to_tsne_with_one_info_line(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(embedding_map, "umap_available", lambda: False)
    cb = EmbeddingMap(every_n_validations=1, umap_min_points=10)
    with caplog.at_level(logging.INFO):
        assert cb.resolved_method(100) == "tsne" and cb.resolved_method(100) == "tsne"
    assert sum("umap-learn is not installed" in r.getMessage() for r in caplog.records) == 1
    monkeypatch.setattr(embedding_map, "umap_available", lambda: True)
    assert cb.resolved_method(100) == "umap" and cb.resolved_method(9) == "tsne"  # small maps: t-SNE is cheaper
    monkeypatch.setattr(embedding_map, "umap_available", lambda: False)
    with pytest.raises(ValueError, match="pip install umap-learn"):
        EmbeddingMap(method="umap")
    feats, labels = _clusters(30)
    _validate(EmbeddingMap(every_n_validations=1, method="tsne"), fake_trainer(tmp_path), feats, labels)
    assert (tmp_path / "dashboard" / "embedding_map" / "3.png").is_file()


@pytest.mark.slow
def test_umap_reduction_keeps_clusters_apart():
    """UMAP (umap-learn, the viz extra): compiles its kernels on first use, about 20-30 s on the 2-core machine."""
    feats, labels = _clusters(60)
    threads = torch.get_num_threads()
    xy = embedding_map.reduce_2d(feats.numpy(), "umap")
    assert torch.get_num_threads() == threads  # numba changes it; training arithmetic (and exact resume) would follow
    centres = np.stack([xy[labels.numpy() == c].mean(0) for c in range(3)])
    within = max(np.linalg.norm(xy[labels.numpy() == c] - centres[c], axis=1).max() for c in range(3))
    assert xy.shape == (60, 2) and within < min(np.linalg.norm(centres[a] - centres[b]) for a in range(3) for b in range(a))


def test_a_failing_panel_warns_and_the_run_goes_on(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no memory")

    monkeypatch.setattr(embedding_map, "reduce_2d", broken)
    feats, labels = _clusters(20)
    with pytest.warns(UserWarning, match="EmbeddingMap: no panel at epoch 3 .*no memory"):
        _validate(EmbeddingMap(every_n_validations=1), fake_trainer(tmp_path), feats, labels)


def test_embedding_map_does_nothing_in_the_sanity_check(tmp_path):
    feats, labels = _clusters(20)
    cb = EmbeddingMap(every_n_validations=1, method="pca")
    _validate(cb, fake_trainer(tmp_path, sanity=True), feats, labels)
    cb.on_fit_end(fake_trainer(tmp_path), None)
    assert not (tmp_path / "dashboard").exists() and cb.validations == 0


# ---------------------------------------------------------------------------------------------- RetrievalGrid
def test_retrieval_grid_finds_the_nearest_bank_images(tmp_path):
    # bank: 6 images of constant brightness i/6; features one-hot-ish, so each query's neighbours are known
    bank_images = torch.stack([torch.full((3, 4, 4), (i / 6 - 0.5) / 0.25) for i in range(6)])
    bank_labels = torch.tensor([0, 0, 1, 1, 2, 2])
    bank_feats = torch.eye(6)
    bank = DataLoader(TensorDataset(bank_images, bank_labels), batch_size=4)
    logger = MagicMock(spec=WandbLogger)
    trainer = fake_trainer(tmp_path, [logger], epoch=5, bank=bank)
    cb = RetrievalGrid(num_queries=2, k=2, every_n_validations=1, upscale=1)
    cb.on_validation_epoch_start(trainer, None)
    for i in range(0, 6, 4):
        cb.on_validation_batch_end(trainer, None, {"features": bank_feats[i:i + 4], "labels": bank_labels[i:i + 4]},
                                   (bank_images[i:i + 4], bank_labels[i:i + 4]), 0, BANK_LOADER)
    # query 0 is closest to bank 4 then 5 (labels 2, 2); query 1 to bank 1 then 2 (labels 0, 1); query label 0 for both
    q_feats = torch.tensor([[0, 0, 0, 0, 1.0, 0.5], [0, 1.0, 0.6, 0, 0, 0], [1.0, 0, 0, 0, 0, 0]])
    q_images = torch.zeros(3, 3, 4, 4)
    cb.on_validation_batch_end(trainer, None, {"features": q_feats, "labels": torch.tensor([2, 0, 0])},
                               (q_images, torch.tensor([2, 0, 0])), 0, VAL_LOADER)
    cb.on_validation_epoch_end(trainer, None)
    folder = tmp_path / "dashboard" / "retrieval"
    with open(folder / "5.csv") as f:
        rows = [(int(r["query"]), int(r["rank"]), int(r["bank_index"]), int(r["label"])) for r in csv.DictReader(f)]
    assert rows == [(0, 1, 4, 2), (0, 2, 5, 2), (1, 1, 1, 0), (1, 2, 2, 1)]  # 2 queries (num_queries), top-2 each
    img = png(folder / "5.png")
    tile = 4 + 2  # image + frame, then 2 px padding
    assert img.shape == (2 * (tile + 2) + 2, 3 * (tile + 2) + 2, 3)

    def frame(row, col):  # top-left frame pixel of a tile
        return img[2 + row * (tile + 2), 2 + col * (tile + 2)].tolist()

    def centre(row, col):
        return img[2 + row * (tile + 2) + 3, 2 + col * (tile + 2) + 3].tolist()

    green, red = [26, 179, 51], [217, 26, 26]  # (0.1, 0.7, 0.2) and (0.85, 0.1, 0.1)
    assert frame(0, 1) == green and frame(0, 2) == green and frame(1, 1) == green and frame(1, 2) == red
    assert np.allclose(centre(0, 1), 4 / 6 * 255, atol=1) and np.allclose(centre(1, 2), 2 / 6 * 255, atol=1)  # bank images
    assert np.allclose(centre(0, 0), 0.5 * 255, atol=1)  # the query, un-normalised
    logger.log_image.assert_called_once_with(key="dash/retrieval", images=[str(folder / "5.png")], step=11)


def test_retrieval_grid_skips_token_batches(tmp_path):
    cb = RetrievalGrid(num_queries=2, k=2, every_n_validations=1, upscale=1)
    trainer = fake_trainer(tmp_path)
    cb.on_validation_epoch_start(trainer, None)
    tokens = {"input_ids": torch.ones(3, 5, dtype=torch.long), "attention_mask": torch.ones(3, 5, dtype=torch.long)}
    out = {"features": torch.randn(3, 4), "labels": torch.tensor([0, 1, 0])}
    for loader in (BANK_LOADER, VAL_LOADER):  # text runs (MaskedLM, CausalLM) have no images to show
        cb.on_validation_batch_end(trainer, None, out, (tokens, out["labels"]), 0, loader)
    assert not cb.ready()
