"""The image DataModule contract shared by every pretraining dataset.

Batches the methods see:

* train: ``(views, labels)`` with ``views`` a list of normalised ``(B, C, H, W)``
  tensors (one per view, in the order of ``views``) and ``labels`` the class
  labels, ``-1`` where a sample is unlabelled or outside ``label_fraction``.
* validation: two loaders, ``[bank, val]`` (indices :data:`BANK_LOADER` and
  :data:`VAL_LOADER`): clean labelled training images for the kNN feature bank,
  then the validation split; batches are ``(images, labels)``.
* test: clean test images, ``(images, labels)``.

Callbacks and transfer get clean labelled data outside the loop through the
labelled-data contract (:class:`~sslkit.data.contracts.LabelledData`:
``labelled_dataset``, ``labelled_indices``, ``bank_dataset``), which the base
implements from :meth:`ImageDataModule.train_labels` and :meth:`ImageDataModule.clean_split`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from sslkit.data.checks import check_split
from sslkit.data.contracts import LabelledSplits
from sslkit.data.memory import InMemoryImages, collate, uint8_images
from sslkit.data.resumable import ResumableShuffle, eval_sampler
from sslkit.data.subsets import check_fraction
from sslkit.transforms import ViewAugment, normalize

BANK_LOADER, VAL_LOADER = 0, 1


class _Mapped(Dataset):
    """Apply ``transform`` to the image of each ``(image, label)`` item; relabel if asked."""

    def __init__(self, base: Dataset, transform, labels: np.ndarray | None = None) -> None:
        self.base, self.transform, self.labels = base, transform, labels

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        img, y = self.base[i]
        y = int(self.labels[i]) if self.labels is not None else int(y)
        return self.transform(img), y


class ImageDataModule(LabelledSplits, ResumableShuffle, L.LightningDataModule):
    """Base class: splits, multi-view augmentation, loaders; label fractions via :class:`~sslkit.data.contracts.LabelledSplits`.

    Subclasses implement :meth:`build_splits` returning the raw ``train``,
    ``val`` and ``test`` datasets of ``(image, label)`` items (image: PIL or a
    ``(C, H, W)`` tensor in ``[0, 1]``; label ``-1`` if unknown) and their labels,
    and set ``num_classes``, ``mean`` and ``std``.

    Args:
        views: augmentation pipelines; each yields ``num_views`` views per image.
        augment_on: ``"device"`` runs the batched path after the batch reaches the
            accelerator; ``"worker"`` runs the per-sample path in DataLoader workers.
        batch_size: images per training batch (per process).
        eval_batch_size: images per evaluation batch.
        num_workers: DataLoader worker processes.
        label_fraction: share of training labels available to probes and kNN
            (class-stratified); the rest are treated as unlabelled.
        bank_size: cap on the kNN bank (clean labelled training images).
        seed: seed of the label subset and of any random split.
    """

    num_classes: int = 0
    mean: Sequence[float] = (0.5, 0.5, 0.5)
    std: Sequence[float] = (0.5, 0.5, 0.5)

    def __init__(
        self,
        views: list[ViewAugment] | None = None,
        augment_on: Literal["device", "worker"] = "device",
        batch_size: int = 256,
        eval_batch_size: int = 512,
        num_workers: int = 0,
        label_fraction: float = 1.0,
        bank_size: int = 20000,
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_fraction(label_fraction)
        if batch_size < 1 or eval_batch_size < 1:
            raise ValueError(f"batch_size and eval_batch_size must be >= 1, got {batch_size} and {eval_batch_size}; "
                             "set data.init_args.batch_size (and eval_batch_size) to a positive number")
        self.views = views if views is not None else [ViewAugment(num_views=2)]
        self.augment_on = augment_on
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.label_fraction = label_fraction
        self.bank_size = bank_size
        self.seed = seed
        self._splits: dict[str, tuple[Dataset, np.ndarray]] | None = None

    # ------------------------------------------------------------------ subclass hooks
    def build_splits(self) -> dict[str, tuple[Dataset, np.ndarray]]:
        """Return ``{"train": (dataset, labels), "val": ..., "test": ...}`` (raw images)."""
        raise NotImplementedError

    @property
    def image_size(self) -> int:
        """Side of the evaluation images: the size of the first view pipeline."""
        return self.views[0].size

    def load_transform(self):
        """Worker-side transform before batched augmentation: to a tensor of one size.

        The dtype is kept: PIL images become uint8 tensors, which travel to the
        device as bytes and become floats there.
        """
        from torchvision.transforms import v2 as T

        return T.Compose([T.ToImage(), T.Resize(self.image_size, antialias=True), T.CenterCrop(self.image_size)])

    def eval_transform(self):
        """Clean evaluation transform: resize, centre crop, to float in ``[0, 1]``, normalise."""
        from torchvision.transforms import v2 as T

        return T.Compose([self.load_transform(), T.ToDtype(torch.float32, scale=True), T.Normalize(self.mean, self.std)])

    # ------------------------------------------------------------------ datasets
    def splits(self) -> dict[str, tuple[Dataset, np.ndarray]]:
        if self._splits is None:
            splits = self.build_splits()
            for name, (ds, labels) in splits.items():
                check_split(name, ds, labels, self.num_classes)  # labels in range, finite pixels
            self._splits = splits
        return self._splits

    # the labelled-data contract (sslkit.data.contracts.LabelledSplits) reads these two
    def train_labels(self) -> np.ndarray:
        return self.splits()["train"][1]

    def clean_split(self, split: str) -> Dataset:
        data, _ = self.splits()[split]
        return _Mapped(data, self.eval_transform())

    def setup(self, stage: str | None = None) -> None:
        train, labels = self.splits()["train"]
        if len(train) < self.batch_size:
            raise ValueError(
                f"batch_size={self.batch_size} is larger than the training set ({len(train)} images); "
                f"set data.init_args.batch_size to at most {len(train)}"
            )

    # ------------------------------------------------------------------ loaders
    def _loader(self, ds: Dataset, batch_size: int, train: bool = False) -> DataLoader:
        if train:  # shuffle order = f(seed, epoch); resumes exactly, mid-epoch included
            return self.resumable_loader(ds, batch_size, num_workers=self.num_workers, collate_fn=collate,
                                         persistent_workers=self.num_workers > 0, pin_memory=torch.cuda.is_available())
        # an own generator: creating the iterator (Lightning also does it when it fast-forwards a restarted
        # validation) then draws no number from the global RNG that the training augmentation uses
        return DataLoader(ds, batch_size=batch_size, sampler=eval_sampler(ds, self.trainer), num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0, pin_memory=torch.cuda.is_available(),
                          generator=torch.Generator().manual_seed(0))

    def train_dataloader(self) -> DataLoader:
        data, labels = self.splits()["train"]
        masked = np.full(len(labels), -1)
        idx = self.labelled_indices()
        masked[idx] = labels[idx]
        if self.augment_on == "device":  # uint8 arrays in memory: whole batches by one index, no per-item Python
            images = uint8_images(data)
            ds = InMemoryImages(images, masked) if images is not None else _Mapped(data, self.load_transform(), masked)
        else:
            ds = _Mapped(data, _PerSampleViews(self.views, self.mean, self.std), masked)
        return self._loader(ds, self.batch_size, train=True)

    def val_dataloader(self) -> list[DataLoader]:
        return [self._loader(self.bank_dataset(), self.eval_batch_size),
                self._loader(self.labelled_dataset("val"), self.eval_batch_size)]

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.labelled_dataset("test"), self.eval_batch_size)

    def augment_batch(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The normalised views of a ``(B, C, H, W)`` batch (uint8 or float in ``[0, 1]``), on its device."""
        return [normalize(v.batched(x), self.mean, self.std) for v in self.views for _ in range(v.num_views)]

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Run the batched augmentation on the device for training batches."""
        if self.augment_on == "device" and self.trainer is not None and self.trainer.training:
            x, y = batch
            return self.augment_batch(x), y
        return batch


class _PerSampleViews:
    """Worker-side multi-view transform: a list of normalised views of one image."""

    def __init__(self, views: list[ViewAugment], mean: Sequence[float], std: Sequence[float]) -> None:
        from torchvision.transforms import v2 as T

        self.pipelines = [T.Compose([v.per_sample(), T.Normalize(mean, std)]) for v in views for _ in range(v.num_views)]

    def __call__(self, img) -> list[torch.Tensor]:
        return [p(img) for p in self.pipelines]
