"""ArrayDataModule: shapes, scaling, in-order splits, labels from .npy / .npz, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sslkit.data import ArrayDataModule
from sslkit.data.checks import BadDataError
from sslkit.transforms import ViewAugment

VIEW = [ViewAugment(size=4, num_views=1, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip_prob=0.0,
                    jitter_prob=0.0, grayscale_prob=0.0)]


def arrays(n: int = 20):
    x = (np.arange(n * 16) % 256).astype(np.uint8).reshape(n, 16)  # flat vectors of 4x4 grey images
    y = np.arange(n) % 3
    return x, y


def test_flat_uint8_vectors_split_in_order_with_npy_labels(tmp_path):
    x, y = arrays()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    dm = ArrayDataModule(str(tmp_path / "x.npy"), labels_path=str(tmp_path / "y.npy"), batch_size=4, views=VIEW)
    assert dm.num_classes == 3 and dm.image_shape == (1, 4, 4)
    splits = dm.splits()
    assert [len(splits[s][0]) for s in ("train", "val", "test")] == [16, 2, 2]
    img, label = splits["val"][0][0]  # item 16 of the file: no shuffle before the split
    assert torch.equal(img, torch.from_numpy(x[16].reshape(1, 4, 4))) and int(label) == y[16]
    assert splits["test"][1].tolist() == y[18:].tolist()
    clean, _ = dm.labelled_dataset("test")[1]  # scaled by 1/255 and normalised with the training split's mean / std
    train = x[:16].astype(np.float32) / 255
    expected = (x[19].reshape(1, 4, 4) / 255 - train.mean()) / train.std(ddof=1)
    assert torch.allclose(clean, torch.from_numpy(expected).float(), atol=1e-5)


def test_npz_images_channels_last_float_with_scale(tmp_path):
    x = np.random.default_rng(0).uniform(0, 255, size=(10, 4, 4, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(10) % 2)
    dm = ArrayDataModule(str(tmp_path / "d.npz"), scale=1 / 255, split=(0.6, 0.2, 0.2), batch_size=2, views=VIEW,
                         mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5])
    assert dm.num_classes == 2 and dm.image_shape == (3, 4, 4)
    img, _ = dm.splits()["train"][0][1]
    assert torch.allclose(img, torch.from_numpy(x[1].transpose(2, 0, 1) / 255))


def test_without_labels_every_label_is_minus_one(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((10, 4, 4), dtype=np.uint8))
    dm = ArrayDataModule(str(tmp_path / "x.npy"), batch_size=2, views=VIEW)
    assert dm.num_classes == 0 and set(dm.splits()["train"][1].tolist()) == {-1}


def test_shuffle_before_split_is_seeded(tmp_path):
    x, y = arrays()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    a = ArrayDataModule(str(tmp_path / "d.npz"), shuffle_before_split=True, batch_size=2, views=VIEW)
    b = ArrayDataModule(str(tmp_path / "d.npz"), shuffle_before_split=True, batch_size=2, views=VIEW)
    assert a.parts["val"].tolist() == b.parts["val"].tolist() != [16, 17]


@pytest.mark.parametrize("kwargs, message", [
    ({"scale": 1.0}, r"values lie in \[0, 255\] after scale=1.0.*set data.init_args.scale"),
    ({"image_shape": [3, 4, 4]}, r"image_shape \[3, 4, 4\] holds 48 values, the vectors 16"),
    ({"split": (0.5, 0.5, 0.0)}, "split must be three fractions > 0"),
    ({"labels_path": "missing.npy"}, "labels file missing.npy does not exist"),
])
def test_bad_input_names_the_fix(tmp_path, kwargs, message):
    x, _ = arrays()
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    with pytest.raises((BadDataError, ValueError, FileNotFoundError), match=message):
        ArrayDataModule(str(tmp_path / "x.npy"), batch_size=2, views=VIEW, **kwargs)
