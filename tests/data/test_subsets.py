"""sslkit.data.subsets (split and fraction rules) and sslkit.data.contracts (the labelled-data contract)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from sslkit.data.contracts import LabelledSplits, check_labelled
from sslkit.data.subsets import check_held_out, held_out_splits


# ---------------------------------------------------------------------------------------------- held-out splits
def test_held_out_splits_sizes_cover_and_stratify():
    """100 items of each of 4 classes, 20% test and 10% val: 80/40/280 items, 20/10/70 per class, disjoint, sorted."""
    labels = np.repeat(np.arange(4), 100)
    parts = held_out_splits(labels, 0.1, 0.2, seed=0)
    assert {k: len(v) for k, v in parts.items()} == {"train": 280, "val": 40, "test": 80}
    assert np.array_equal(np.sort(np.concatenate(list(parts.values()))), np.arange(400))
    for name, per_class in (("train", 70), ("val", 10), ("test", 20)):
        assert np.bincount(labels[parts[name]]).tolist() == [per_class] * 4
        assert np.all(np.diff(parts[name]) > 0)
    assert all(np.array_equal(parts[k], v) for k, v in held_out_splits(labels, 0.1, 0.2, seed=0).items())  # seeded
    assert not np.array_equal(parts["test"], held_out_splits(labels, 0.1, 0.2, seed=1)["test"])


def test_held_out_splits_keeps_given_splits_and_unlabelled_items():
    """A shipped test split is not carved: val is val_fraction of everything; unlabelled items are shuffled, not stratified."""
    labels = np.repeat(np.arange(2), 50)
    parts = held_out_splits(labels, 0.1, None, seed=0, given=("test",))
    assert sorted(parts) == ["train", "val"] and len(parts["val"]) == 10 and np.bincount(labels[parts["val"]]).tolist() == [5, 5]
    unlabelled = held_out_splits(np.full(30, -1), 0.1, 0.2, seed=0)
    assert {k: len(v) for k, v in unlabelled.items()} == {"train": 21, "val": 3, "test": 6}


def test_held_out_fraction_checks_name_the_argument():
    with pytest.raises(ValueError, match="val_fraction must be in"):
        check_held_out(1.0)
    with pytest.raises(ValueError, match="test_fraction must be in"):
        check_held_out(0.1, 0.0)
    with pytest.raises(ValueError, match=r"val_fraction \+ test_fraction must be below 1"):
        check_held_out(0.5, 0.5)
    with pytest.raises(ValueError, match="cannot hold out 0.1 of 10 items stratified by class"):
        held_out_splits(np.arange(10) % 5, 0.1, None, seed=0, given=("test",))  # 1 held-out item, 5 classes


# ---------------------------------------------------------------------------------------------- the contract
class _Toy(LabelledSplits):
    """Six labelled items per class (3 classes) plus 4 unlabelled ones; val/test are fixed."""

    num_classes, label_fraction, seed, bank_size = 3, 0.5, 0, 5

    def train_labels(self) -> np.ndarray:
        return np.array([0, 1, 2] * 6 + [-1] * 4)

    def clean_split(self, split: str):
        y = torch.as_tensor(self.train_labels()) if split == "train" else torch.tensor([0, 1, 2])
        return TensorDataset(torch.arange(len(y)).float()[:, None], y)


def test_labelled_splits_implements_the_contract_from_two_hooks():
    toy = check_labelled(_Toy(), "test")
    idx = toy.labelled_indices()
    assert len(idx) == 9 and (toy.train_labels()[idx] >= 0).all()  # half of each class, never an unlabelled item
    assert np.bincount(toy.train_labels()[idx]).tolist() == [3, 3, 3]
    assert set(toy.labelled_indices(0.25, seed=1)) <= set(toy.labelled_indices(0.5, seed=1))  # nested
    train = toy.labelled_dataset("train")
    assert [int(train[i][0]) for i in range(len(train))] == idx.tolist()
    assert len(toy.labelled_dataset("val")) == 3 and len(toy.labelled_dataset("train", fraction=1.0)) == 18
    bank = toy.bank_dataset()
    assert len(bank) == 5 and {int(bank[i][0]) for i in range(5)} <= set(idx.tolist())  # capped, labelled only
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        toy.labelled_dataset("dev")


def test_check_labelled_names_what_is_missing_without_loading_data():
    class Corpus:
        num_classes = 0

        def labelled_dataset(self, split):
            return None

    with pytest.raises(TypeError, match="LinearEvalSummary needs a labelled DataModule; Corpus lacks labelled_indices, "
                                        "bank_dataset"):
        check_labelled(Corpus(), "LinearEvalSummary")

    class Lazy(_Toy):
        @property
        def num_classes(self) -> int:
            raise AssertionError("the check must not evaluate properties (that would load the data)")

    check_labelled(Lazy(), "test")


def test_image_datamodules_conform():
    from sslkit.data import DigitsDataModule

    dm = DigitsDataModule(batch_size=8)
    assert check_labelled(dm, "test") is dm
    assert len(dm.bank_dataset()) == len(dm.labelled_dataset("train"))  # below bank_size: the whole labelled subset
    dm.bank_size = 100
    assert len(dm.bank_dataset()) == 100
