"""scikit-learn's handwritten digits: the embedded default image dataset."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from sslkit.data.base import ImageDataModule


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
        if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
            raise ValueError("val_fraction and test_fraction must be in (0, 1) and sum to less than 1")
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
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
        x = F.interpolate(x, size=self.load_size, mode="bilinear", align_corners=False).clamp(0, 1).repeat(1, 3, 1, 1)
        y = np.asarray(digits.target, dtype=np.int64)
        idx = np.arange(len(y))
        rest, test = train_test_split(idx, test_size=self.test_fraction, stratify=y, random_state=self.split_seed)
        val_share = self.val_fraction / (1 - self.test_fraction)
        train, val = train_test_split(rest, test_size=val_share, stratify=y[rest], random_state=self.split_seed)
        out = {}
        for name, part in (("train", train), ("val", val), ("test", test)):
            part = np.sort(part)
            out[name] = (TensorDataset(x[part], torch.from_numpy(y[part])), y[part])
        return out


def _identity(x):
    return x
