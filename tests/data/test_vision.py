"""CIFAR-10/100, STL-10 and ImageFolder DataModules on tiny fake datasets in the official on-disk formats."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sslkit.data import CIFAR10DataModule, CIFAR100DataModule, ImageFolderDataModule, STL10DataModule
from sslkit.transforms import ViewAugment

RNG = np.random.default_rng(0)


# ---------------------------------------------------------------------- fake datasets
def _cifar_batch(path: Path, n: int, num_classes: int, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Write one CIFAR python batch: ``data`` (n, 3072) uint8 in CHW order, labels under ``key``."""
    x = RNG.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    y = np.arange(n) % num_classes
    with open(path, "wb") as f:
        pickle.dump({"data": x.reshape(n, -1), key: y.tolist()}, f)
    return x, y


def make_cifar10(root: Path, per_batch: int = 10, test: int = 20) -> tuple[np.ndarray, np.ndarray]:
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    for i in range(1, 6):
        _cifar_batch(base / f"data_batch_{i}", per_batch, 10, "labels")
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)
    return _cifar_batch(base / "test_batch", test, 10, "labels")


def make_cifar100(root: Path, train: int = 400, test: int = 100) -> None:
    base = root / "cifar-100-python"
    base.mkdir(parents=True)
    _cifar_batch(base / "train", train, 100, "fine_labels")
    _cifar_batch(base / "test", test, 100, "fine_labels")
    with open(base / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"c{i}" for i in range(100)]}, f)


def make_stl10(root: Path, train: int = 50, unlabeled: int = 30, test: int = 20) -> np.ndarray:
    """STL-10 binaries: images column-major (N, 3, 96, 96) transposed, labels 1..10 as uint8."""
    base = root / "stl10_binary"
    base.mkdir(parents=True)
    out = {}
    for name, n in (("train", train), ("unlabeled", unlabeled), ("test", test)):
        x = RNG.integers(0, 256, size=(n, 3, 96, 96), dtype=np.uint8)
        x.transpose(0, 1, 3, 2).tofile(base / f"{name}_X.bin")
        out[name] = x
        if name != "unlabeled":
            (np.arange(n) % 10 + 1).astype(np.uint8).tofile(base / f"{name}_y.bin")
    return out["test"]


def make_folder(root: Path, classes: int = 3, per_class: int = 10, size: int = 20) -> None:
    for c in range(classes):
        d = root / f"class_{c}"
        d.mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(RNG.integers(0, 256, size=(size, size, 3), dtype=np.uint8)).save(d / f"{i}.png")


def views(size: int) -> list[ViewAugment]:
    return [ViewAugment(size=size, num_views=2)]


# ---------------------------------------------------------------------- CIFAR
def test_cifar10_splits_labels_and_normalisation(tmp_path):
    x_test, y_test = make_cifar10(tmp_path)
    dm = CIFAR10DataModule(root=str(tmp_path), val_fraction=0.2, batch_size=8, views=views(32))
    s = dm.splits()
    assert dm.num_classes == 10
    assert [len(s[k][0]) for k in ("train", "val", "test")] == [40, 10, 20]
    # stratified: 4 train and 1 val image per class
    assert np.bincount(s["train"][1]).tolist() == [4] * 10 and np.bincount(s["val"][1]).tolist() == [1] * 10
    np.testing.assert_array_equal(s["test"][1], y_test)
    # the split is seeded: same seed, same split; another seed, another split
    again = CIFAR10DataModule(root=str(tmp_path), val_fraction=0.2, views=views(32)).splits()
    other = CIFAR10DataModule(root=str(tmp_path), val_fraction=0.2, split_seed=1, views=views(32)).splits()
    assert again["val"][0].indices == s["val"][0].indices != other["val"][0].indices
    # clean test images: (3, 32, 32), exactly (x / 255 - mean) / std
    img, label = dm.labelled_dataset("test")[3]
    expected = (torch.tensor(x_test[3]).float() / 255 - torch.tensor(dm.mean).view(3, 1, 1)) / torch.tensor(dm.std).view(3, 1, 1)
    assert img.shape == (3, 32, 32) and img.dtype == torch.float32 and label == y_test[3]
    torch.testing.assert_close(img, expected, atol=1e-5, rtol=0)
    # a 10% label fraction keeps one labelled training image per class
    assert sorted(s["train"][1][dm.labelled_indices(0.1)].tolist()) == list(range(10))


def test_cifar10_worker_views_batch(tmp_path):
    make_cifar10(tmp_path)
    dm = CIFAR10DataModule(root=str(tmp_path), val_fraction=0.2, batch_size=8, augment_on="worker",
                           views=[ViewAugment(size=32, num_views=2), ViewAugment(size=16, num_views=1)])
    dm.setup("fit")
    batch_views, labels = next(iter(dm.train_dataloader()))
    assert [tuple(v.shape) for v in batch_views] == [(8, 3, 32, 32), (8, 3, 32, 32), (8, 3, 16, 16)]
    assert labels.shape == (8,) and labels.min() >= 0 and labels.max() < 10


def test_cifar100(tmp_path):
    make_cifar100(tmp_path)
    dm = CIFAR100DataModule(root=str(tmp_path), val_fraction=0.25, views=views(32), batch_size=8)
    s = dm.splits()
    assert dm.num_classes == 100
    assert [len(s[k][0]) for k in ("train", "val", "test")] == [300, 100, 100]
    assert np.bincount(s["val"][1], minlength=100).tolist() == [1] * 100  # stratified over 100 classes


def test_missing_root_names_expected_files_and_archive(tmp_path):
    dm = CIFAR10DataModule(root=str(tmp_path / "nowhere"), views=views(32))
    with pytest.raises(FileNotFoundError) as err:
        dm.splits()
    msg = str(err.value)
    assert str(tmp_path / "nowhere" / "cifar-10-batches-py") in msg
    for needle in ("data_batch_1", "test_batch", "batches.meta", "cifar-10-python.tar.gz",
                   "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "download: true"):
        assert needle in msg
    with pytest.raises(FileNotFoundError, match=r"stl10_binary.*unlabeled_X\.bin|unlabeled_X\.bin"):
        STL10DataModule(root=str(tmp_path), views=views(96)).splits()
    assert not (tmp_path / "nowhere").exists()  # nothing was downloaded or created


def test_checksums_are_skipped_unless_asked(tmp_path):
    make_cifar10(tmp_path)
    test = CIFAR10DataModule(root=str(tmp_path), val_fraction=0.2, views=views(32)).splits()["test"][0]
    assert len(test) == 20 and len(pickle.loads(pickle.dumps(test))) == 20  # picklable for spawned workers
    with pytest.raises(RuntimeError, match="corrupted"):  # torchvision's md5 check rejects the fake files
        CIFAR10DataModule(root=str(tmp_path), verify_checksums=True, views=views(32)).splits()


def test_download_only_when_asked_and_only_when_missing(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar

    calls = []

    def fake_download(url, root, filename=None, md5=None):  # stands in for the network
        calls.append((url, Path(root), filename, md5))
        make_cifar10(Path(root))

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", fake_download)
    with pytest.raises(FileNotFoundError):
        CIFAR10DataModule(root=str(tmp_path), views=views(32)).splits()
    assert calls == []  # download: false (the default) never fetches
    dm = CIFAR10DataModule(root=str(tmp_path), download=True, val_fraction=0.2, views=views(32))
    dm.prepare_data()
    assert calls == [("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", tmp_path, "cifar-10-python.tar.gz",
                      "c58f30108f718f92721af3b95e74349a")]  # the archive's md5 is still checked
    assert len(dm.splits()["test"][0]) == 20 and len(calls) == 1  # files present: no second download


# ---------------------------------------------------------------------- STL-10
def test_stl10_pretrains_on_train_plus_unlabelled(tmp_path):
    x_test = make_stl10(tmp_path)
    dm = STL10DataModule(root=str(tmp_path), val_fraction=0.2, batch_size=16, views=views(32))
    s = dm.splits()
    assert dm.num_classes == 10
    assert [len(s[k][0]) for k in ("train", "val", "test")] == [40 + 30, 10, 20]
    train_labels = s["train"][1]
    assert (train_labels == -1).sum() == 30 and np.bincount(train_labels[train_labels >= 0]).tolist() == [4] * 10
    assert s["test"][1].tolist() == (np.arange(20) % 10).tolist()  # file labels 1..10 -> 0..9
    # labelled subsets never include unlabelled images
    idx = dm.labelled_indices()
    assert len(idx) == 40 and (train_labels[idx] >= 0).all()
    assert len(dm.labelled_dataset("train", fraction=0.1)) == 10
    # clean images resized 96 -> 32; the test image decodes to the array written
    img, label = dm.labelled_dataset("test")[0]
    assert img.shape == (3, 32, 32) and label == 0
    raw = STL10DataModule(root=str(tmp_path), val_fraction=0.2, views=views(96)).labelled_dataset("test")[0][0]
    expected = (torch.tensor(x_test[0]).float() / 255 - torch.tensor(dm.mean).view(3, 1, 1)) / torch.tensor(dm.std).view(3, 1, 1)
    torch.testing.assert_close(raw, expected, atol=1e-5, rtol=0)
    # training batches cover everything; unlabelled images carry -1
    dm.setup("fit")
    labels = torch.cat([y for _, y in dm.train_dataloader()])
    assert len(labels) == 64 and (labels == -1).sum() >= 30 - 6  # drop_last drops at most 6 of 70


def test_stl10_without_unlabelled(tmp_path):
    make_stl10(tmp_path)
    s = STL10DataModule(root=str(tmp_path), unlabeled=False, val_fraction=0.2, views=views(32)).splits()
    assert len(s["train"][0]) == 40 and (s["train"][1] >= 0).all()


# ---------------------------------------------------------------------- ImageFolder
def test_image_folder_labelled_fractions(tmp_path):
    make_folder(tmp_path / "imgs", classes=3, per_class=10)
    dm = ImageFolderDataModule(root=str(tmp_path / "imgs"), val_fraction=0.2, test_fraction=0.1, views=views(16),
                               batch_size=4)
    s = dm.splits()
    assert dm.num_classes == 3 and dm.classes == ["class_0", "class_1", "class_2"]
    assert [len(s[k][0]) for k in ("train", "val", "test")] == [21, 6, 3]
    assert np.bincount(s["val"][1]).tolist() == [2, 2, 2] and np.bincount(s["test"][1]).tolist() == [1, 1, 1]
    held = set(s["val"][0].base.indices) | set(s["test"][0].base.indices)
    assert not held & set(s["train"][0].base.indices)
    img, label = dm.labelled_dataset("val")[0]
    assert img.shape == (3, 16, 16) and label == s["val"][1][0]


def test_image_folder_separate_roots(tmp_path):
    for name, n in (("train", 6), ("val", 2), ("test", 3)):
        make_folder(tmp_path / name, classes=2, per_class=n)
    dm = ImageFolderDataModule(root=str(tmp_path / "train"), val_root=str(tmp_path / "val"),
                               test_root=str(tmp_path / "test"), views=views(16), batch_size=4)
    s = dm.splits()
    assert [len(s[k][0]) for k in ("train", "val", "test")] == [12, 4, 6]
    assert s["test"][1].tolist() == [0, 0, 0, 1, 1, 1]


def test_image_folder_unlabelled(tmp_path):
    flat = tmp_path / "flat"
    make_folder(flat, classes=1, per_class=20)
    for p in list((flat / "class_0").iterdir())[:10]:
        p.rename(flat / p.name)  # half directly under root, half in a subfolder
    dm = ImageFolderDataModule(root=str(flat), labelled=False, val_fraction=0.2, test_fraction=0.1,
                               views=views(16), batch_size=4)
    s = dm.splits()
    assert dm.num_classes == 0
    assert [len(s[k][0]) for k in ("train", "val", "test")] == [14, 4, 2]
    assert all((s[k][1] == -1).all() for k in s)
    assert dm.labelled_indices().size == 0 and len(dm.labelled_dataset("train")) == 0
    dm.setup("fit")
    batch_views, labels = next(iter(dm.train_dataloader()))
    assert batch_views.shape == (4, 3, 16, 16) and labels.tolist() == [-1] * 4  # device path: views made later


def test_image_folder_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing_here.*root/<class_name>/<image>"):
        ImageFolderDataModule(root=str(tmp_path / "nothing_here"), views=views(16))


# ---------------------------------------------------------------------- recipes
@pytest.mark.parametrize("recipe", ["cifar10", "stl10"])
def test_gpu_recipes_parse_without_data(recipe, capsys, tmp_path, monkeypatch):
    from tests.conftest import RECIPES, run_cli

    monkeypatch.chdir(tmp_path)  # data/<name> does not exist here
    with pytest.raises(SystemExit) as done:
        run_cli("fit", "--config", str(RECIPES / "pretrain" / recipe / "simclr.yaml"), "--print_config")
    assert done.value.code in (0, None)
    out = capsys.readouterr().out
    assert f"root: data/{recipe}" in out and "timm.optim.Lars" in out and "precision: bf16-mixed" in out
    assert ("cifar_stem: true" in out) == (recipe == "cifar10")
