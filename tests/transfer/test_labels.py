"""Label subsets of the downstream DataModule: stratified, nested across fractions, reproducible by seed."""

import numpy as np
import pytest

from sslkit.data import LabelledDataModule
from sslkit.transfer.runner import subset_positions


def _labels(dm, fraction, seed):
    ds = LabelledDataModule(dm, label_fraction=fraction, seed=seed).dataset("train")
    return np.asarray(ds.indices), np.array([int(ds[i][1]) for i in range(len(ds))])


def test_subsets_stratified_nested_reproducible(digits):
    full = digits.splits()["train"][1]
    counts = np.bincount(full, minlength=10)
    prev = None
    for f in (0.01, 0.05, 0.1, 0.25, 1.0):
        idx, y = _labels(digits, f, seed=1)
        assert (np.bincount(y, minlength=10) == np.maximum(1, np.ceil(f * counts))).all()  # stratified
        if prev is not None:
            assert set(prev) <= set(idx)  # nested
        prev = idx
    a, _ = _labels(digits, 0.1, seed=1)
    b, _ = _labels(digits, 0.1, seed=1)
    c, _ = _labels(digits, 0.1, seed=2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # the sweep slices cached full-train features at these positions
    pos = subset_positions(digits, 0.1, 1)
    assert np.array_equal(digits.labelled_indices(1.0, 0)[pos], a)


def test_labelled_datamodule_validates(digits):
    with pytest.raises(ValueError):
        LabelledDataModule(digits, label_fraction=0.0)
    with pytest.raises(TypeError):
        LabelledDataModule(object())
    assert LabelledDataModule(digits).num_classes == 10
