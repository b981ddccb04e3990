"""A DataModule of your own: scikit-learn's digits, inverted (dark strokes on white), split 70/15/15.

Subclass :class:`sslkit.data.ImageDataModule`, set ``num_classes``, ``mean`` and ``std``, and return the
raw ``(image, label)`` splits from ``build_splits``; the base class gives the multi-view training
batches, the ``[bank, val]`` loaders the probe and kNN use, and ``labelled_dataset`` for transfer.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from sslkit.data import ImageDataModule


class InvertedDigits(ImageDataModule):
    """The 1,797 8x8 digits of scikit-learn, inverted and upsampled to ``size`` pixels (3 channels).

    Args:
        size: side of the stored images.
        **kwargs: see ImageDataModule (views, batch_size, label_fraction, ...).
    """

    num_classes = 10
    mean = (0.695, 0.695, 0.695)
    std = (0.385, 0.385, 0.385)

    def __init__(self, size: int = 16, **kwargs) -> None:
        super().__init__(**kwargs)
        self.size = size

    def build_splits(self) -> dict[str, tuple[TensorDataset, np.ndarray]]:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        x = 1.0 - torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
        x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False).clamp(0, 1).repeat(1, 3, 1, 1)
        y = np.asarray(digits.target, dtype=np.int64)
        train, rest = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y, random_state=0)
        val, test = train_test_split(rest, test_size=0.5, stratify=y[rest], random_state=0)
        return {name: (TensorDataset(x[idx], torch.from_numpy(y[idx])), y[idx])
                for name, idx in (("train", train), ("val", val), ("test", test))}
