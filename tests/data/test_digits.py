import numpy as np
import pytest
import torch

from sslkit.data import BANK_LOADER, VAL_LOADER, DigitsDataModule, stratified_subset
from sslkit.transforms import ViewAugment


def test_fixed_stratified_split(digits):
    s = digits.splits()
    sizes = {k: len(v[0]) for k, v in s.items()}
    assert sizes == {"train": 1257, "val": 180, "test": 360}  # 1797 = 70/10/20 %
    for split, (_, y) in s.items():
        share = np.bincount(y, minlength=10) / len(y)
        assert np.abs(share - 0.1).max() < 0.02, split  # every class about 10% in every split
    # fixed by seed, disjoint
    again = DigitsDataModule(load_size=16).splits()
    assert np.array_equal(again["test"][1], s["test"][1])
    x_train = s["train"][0].tensors[0].flatten(1)
    x_test = s["test"][0].tensors[0].flatten(1)
    assert torch.cdist(x_test, x_train).min() > 0 or len({tuple(r.tolist()) for r in x_test} & {tuple(r.tolist()) for r in x_train}) < 5


def test_images_are_rgb_unit_range(digits):
    x, y = digits.splits()["train"][0][0]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and torch.equal(x[0], x[1])


def test_label_fraction_subsets_are_stratified_and_nested(digits):
    ten = digits.labelled_indices(0.1)
    five = digits.labelled_indices(0.05)
    assert 120 <= len(ten) <= 135 and set(five) <= set(ten)
    assert np.array_equal(ten, digits.labelled_indices(0.1))  # reproducible
    assert not np.array_equal(ten, digits.labelled_indices(0.1, seed=1))
    assert (np.bincount(digits.splits()["train"][1][ten], minlength=10) >= 12).all()
    with pytest.raises(ValueError, match="label_fraction"):
        stratified_subset([0, 1], 0.0)
    with pytest.raises(ValueError, match="label_fraction"):
        DigitsDataModule(label_fraction=1.5)


def test_labelled_dataset_is_normalised(digits):
    ds = digits.labelled_dataset("train", fraction=0.1)
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    assert x.shape[1:] == (3, 16, 16)
    assert abs(x.mean().item()) < 0.3 and 0.7 < x.std().item() < 1.3  # roughly standardised


def _first_train_batch(dm):
    class _T:
        training = True
        current_epoch = 0

    dm.trainer = _T()
    batch = next(iter(dm.train_dataloader()))
    return dm.on_after_batch_transfer(batch, 0)


@pytest.mark.parametrize("augment_on", ["device", "worker"])
def test_train_batches_hold_views_and_masked_labels(augment_on):
    dm = DigitsDataModule(load_size=16, batch_size=32, label_fraction=0.1, augment_on=augment_on,
                          views=[ViewAugment(size=16, num_views=2), ViewAugment(size=8, num_views=3)])
    views, labels = _first_train_batch(dm)
    assert [tuple(v.shape) for v in views] == [(32, 3, 16, 16)] * 2 + [(32, 3, 8, 8)] * 3
    assert not torch.equal(views[0], views[1])  # independent random views
    assert (labels == -1).sum() > 20  # 90% of the labels are hidden from probes


def test_validation_loaders_are_bank_then_val(digits):
    loaders = digits.val_dataloader()
    assert len(loaders[BANK_LOADER].dataset) == 1257 and len(loaders[VAL_LOADER].dataset) == 180


def test_batch_larger_than_dataset_is_caught():
    dm = DigitsDataModule(load_size=8, batch_size=5000)
    with pytest.raises(ValueError, match="batch_size=5000 is larger than the training set"):
        dm.setup("fit")
