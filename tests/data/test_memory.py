"""The uint8 fast path of ``augment_on: device``: whole batches by one index, the same batches as the per-item path."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.data import ConcatDataset, Subset, TensorDataset

from sslkit.data import CIFAR10DataModule, InMemoryImages, SyntheticImageDataModule
from sslkit.data.memory import collate, uint8_images
from sslkit.transforms import ViewAugment
from tests.data.test_vision import make_cifar10


def test_in_memory_images_fetch_whole_batches():
    images = torch.randint(0, 256, (10, 3, 4, 4), dtype=torch.uint8)
    ds = InMemoryImages(images, np.arange(10))
    x, y = collate(ds.__getitems__([3, 1, 7]))
    assert torch.equal(x, images[[3, 1, 7]]) and y.tolist() == [3, 1, 7]
    assert torch.equal(ds[4][0], images[4]) and ds[4][1] == 4
    with pytest.raises(ValueError, match="uint8"):
        InMemoryImages(images.float(), np.arange(10))


def test_uint8_images_sees_through_subsets_and_concats():
    a = torch.randint(0, 256, (6, 3, 4, 4), dtype=torch.uint8)
    b = torch.randint(0, 256, (4, 3, 4, 4), dtype=torch.uint8)
    ds = ConcatDataset([Subset(TensorDataset(a, torch.zeros(6)), [5, 0, 2]), InMemoryImages(b, np.zeros(4))])
    assert torch.equal(uint8_images(ds), torch.cat([a[[5, 0, 2]], b]))
    assert uint8_images(TensorDataset(a.float(), torch.zeros(6))) is None  # float images: the per-item path


def _batches(dm, n: int = 3) -> list[tuple[torch.Tensor, torch.Tensor]]:
    dm.trainer = SimpleNamespace(training=True, current_epoch=0, world_size=1)
    dm._shuffle_seed = 123
    it = iter(dm.train_dataloader())
    return [next(it) for _ in range(n)]


def test_cifar_fast_path_gives_the_per_item_batches(tmp_path: Path, monkeypatch):
    make_cifar10(tmp_path, per_batch=20)
    kwargs = dict(root=str(tmp_path), batch_size=16, views=[ViewAugment(size=32, num_views=2)])
    fast = CIFAR10DataModule(**kwargs)
    assert isinstance(fast.train_dataloader().dataset, InMemoryImages)
    got = _batches(fast)
    monkeypatch.setattr("sslkit.data.base.uint8_images", lambda data: None)  # force the per-item path
    slow = CIFAR10DataModule(**kwargs)
    assert not isinstance(slow.train_dataloader().dataset, InMemoryImages)
    for (x, y), (x_ref, y_ref) in zip(got, _batches(slow)):
        assert x.dtype == x_ref.dtype == torch.uint8  # bytes until the device on both paths
        assert torch.equal(x, x_ref) and torch.equal(y, y_ref)


def test_synthetic_datamodule_is_seeded_and_shaped():
    kwargs = dict(train_size=40, val_size=8, test_size=8, image_size=12, num_classes=5, batch_size=8,
                  views=[ViewAugment(size=8, num_views=2)])
    a, b = SyntheticImageDataModule(**kwargs), SyntheticImageDataModule(**kwargs)
    assert a.num_classes == 5 and torch.equal(a.splits()["train"][0].images, b.splits()["train"][0].images)
    x, y = _batches(a, 1)[0]
    assert x.shape == (8, 3, 12, 12) and x.dtype == torch.uint8 and y.max() < 5
    views, labels = a.on_after_batch_transfer((x, y), 0)
    assert [tuple(v.shape) for v in views] == [(8, 3, 8, 8)] * 2 and views[0].dtype == torch.float32
    img, _ = a.labelled_dataset("val")[0]
    assert img.shape == (3, 8, 8) and img.dtype == torch.float32
