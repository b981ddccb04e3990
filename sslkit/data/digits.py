"""scikit-learn's handwritten digits: the embedded default image dataset."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from sslkit.data.base import ImageDataModule
from sslkit.data.subsets import check_held_out, held_out_splits


class DigitsDataModule(ImageDataModule):
    """The 1,797 8x8 handwritten digits (10 classes) that ship with scikit-learn.

    Source: the UCI "Optical Recognition of Handwritten Digits" test set, as
    ``sklearn.datasets.load_digits``. Nothing is downloaded. Images are scaled
    to ``[0, 1]``, upsampled once to ``load_size`` pixels (bilinear) and
    repeated to 3 channels so every RGB backbone and augmentation applies. The
    split is stratified and fixed by ``split_seed``: ``test_fraction`` for
    test, ``val_fraction`` for validation, the rest for training.

    Args:
        load_size: side of the stored images before augmentation.
        val_fraction: share of the data held out for validation.
        test_fraction: share of the data held out for test.
        split_seed: seed of the stratified split.
        **kwargs: see :class:`~sslkit.data.base.ImageDataModule`.
    """

    num_classes = 10
    mean = (0.305, 0.305, 0.305)
    std = (0.385, 0.385, 0.385)

    def __init__(self, load_size: int = 32, val_fraction: float = 0.1, test_fraction: float = 0.2,
                 split_seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        check_held_out(val_fraction, test_fraction)
        self.load_size = load_size
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed

    def load_transform(self):
        # images are stored at load_size already; only the evaluation size may differ
        if self.image_size == self.load_size:
            return _identity
        return super().load_transform()

    def build_splits(self):
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
        x = F.interpolate(x, size=self.load_size, mode="bilinear", align_corners=False).clamp(0, 1).repeat(1, 3, 1, 1)
        y = np.asarray(digits.target, dtype=np.int64)
        parts = held_out_splits(y, self.val_fraction, self.test_fraction, self.split_seed)
        return {name: (TensorDataset(x[parts[name]], torch.from_numpy(y[parts[name]])), y[parts[name]])
                for name in ("train", "val", "test")}


def _identity(x):
    return x
