"""Images held in memory as one uint8 tensor, read a whole batch at a time.

The fast path of ``augment_on: device``: a batch is one index into an
``(N, C, H, W)`` uint8 tensor (``__getitems__``, which the DataLoader calls
with the batch's indices), so no Python runs per sample, the copy to the
accelerator moves bytes rather than floats, and the batched augmentation
turns them into floats on the device. :func:`uint8_images` finds such a tensor
behind the datasets sslkit builds (CIFAR's arrays, uint8 ``TensorDataset``\\ s,
``Subset``\\ s and ``ConcatDataset``\\ s of them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, Subset, TensorDataset
from torch.utils.data._utils.collate import default_collate


class _Batch(tuple):
    """A batch already collated by :meth:`InMemoryImages.__getitems__`."""


class InMemoryImages(Dataset):
    """``(N, C, H, W)`` uint8 images with their labels.

    Args:
        images: uint8 tensor ``(N, C, H, W)``.
        labels: ``N`` integer labels (``-1`` = unlabelled).
    """

    def __init__(self, images: torch.Tensor, labels: np.ndarray | torch.Tensor) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be a (N, C, H, W) uint8 tensor, got {images.dtype} {tuple(images.shape)}")
        labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        if len(labels) != len(images):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i], int(self.labels[i])

    def __getitems__(self, indices: list[int]) -> _Batch:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return _Batch((self.images[idx], self.labels[idx]))


def collate(batch: Any) -> Any:
    """DataLoader ``collate_fn``: passes a batch from :meth:`InMemoryImages.__getitems__` through, else collates."""
    if isinstance(batch, _Batch):
        return tuple(batch)
    return default_collate(batch)


def uint8_images(data: Dataset) -> torch.Tensor | None:
    """The images of ``data`` as one ``(N, C, H, W)`` uint8 tensor, when they already sit in memory as such.

    Recognises :class:`InMemoryImages`, a ``TensorDataset`` whose first tensor
    is uint8 ``(N, C, H, W)``, torchvision's CIFAR-10/100 readers without a
    transform, and ``Subset`` / ``ConcatDataset`` of these (images of one
    shape). Returns ``None`` for anything else (files decoded per item, float
    tensors): those go through the per-item path.
    """
    from torchvision import datasets

    if isinstance(data, InMemoryImages):
        return data.images
    if isinstance(data, Subset):
        base = uint8_images(data.dataset)
        return None if base is None else base[torch.as_tensor(list(data.indices), dtype=torch.long)]
    if isinstance(data, ConcatDataset):
        parts = [uint8_images(d) for d in data.datasets]
        if any(p is None for p in parts) or len({tuple(p.shape[1:]) for p in parts}) != 1:
            return None
        return torch.cat(parts)
    if isinstance(data, TensorDataset):
        x = data.tensors[0]
        return x if x.dtype == torch.uint8 and x.ndim == 4 else None
    if isinstance(data, datasets.CIFAR10) and data.transform is None:  # CIFAR-100 subclasses CIFAR-10
        arr = data.data
        if isinstance(arr, np.ndarray) and arr.dtype == np.uint8 and arr.ndim == 4:
            return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()  # stored (N, H, W, C)
    return None
