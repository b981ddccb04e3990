"""Random uint8 images of a chosen shape: for throughput benchmarks and GPU smoke runs, never for results."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from sslkit.data.base import ImageDataModule
from sslkit.data.memory import InMemoryImages


class SyntheticImageDataModule(ImageDataModule):
    """Uniform-noise uint8 images with random labels, generated in memory from ``seed``.

    Shaped like a real dataset (CIFAR by default: 32x32 RGB, 10 classes) so
    that loaders, augmentation and models run exactly as on the real data,
    without any file. Contrastive losses still fall on noise (every image is
    its own class), which is what a smoke run checks; accuracies mean nothing.

    Args:
        train_size: training images.
        val_size: validation images.
        test_size: test images.
        image_size: side of the stored images.
        channels: image channels.
        num_classes: number of random labels.
        data_seed: seed of the images and labels.
        **kwargs: see :class:`~sslkit.data.base.ImageDataModule`.
    """

    mean = (0.5, 0.5, 0.5)
    std = (0.29, 0.29, 0.29)  # of a uniform distribution on [0, 1]

    def __init__(self, train_size: int = 50000, val_size: int = 1000, test_size: int = 1000, image_size: int = 32,
                 channels: int = 3, num_classes: int = 10, data_seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        if min(train_size, val_size, test_size, image_size, channels, num_classes) < 1:
            raise ValueError("sizes, channels and num_classes must be >= 1")
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.stored_size, self.channels, self.num_classes, self.data_seed = image_size, channels, num_classes, data_seed
        self.mean, self.std = (0.5,) * channels, (0.29,) * channels

    def build_splits(self) -> dict[str, tuple[Dataset, np.ndarray]]:
        g = torch.Generator().manual_seed(self.data_seed)
        out = {}
        for name, n in self.sizes.items():
            images = torch.randint(0, 256, (n, self.channels, self.stored_size, self.stored_size), dtype=torch.uint8,
                                   generator=g)
            labels = torch.randint(0, self.num_classes, (n,), generator=g).numpy()
            out[name] = (InMemoryImages(images, labels), labels)
        return out
