"""Labelled downstream DataModules built from any DataModule with ``labelled_dataset``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from sslkit.data.resumable import ResumableShuffle, eval_sampler
from sslkit.data.contracts import check_labelled
from sslkit.data.subsets import check_fraction
from sslkit.transforms import ViewAugment, normalize

SPLITS = ("train", "val", "test")


class LabelledDataModule(ResumableShuffle, L.LightningDataModule):
    """``(x, y)`` batches for supervised transfer, from a source DataModule.

    The source is any DataModule implementing ``labelled_dataset(split,
    fraction, seed)`` and ``num_classes`` (every :class:`~sslkit.data.ImageDataModule`,
    text DataModules alike). Training uses a class-stratified, nested,
    seed-reproducible ``label_fraction`` of the training labels; validation and
    test use the full splits.

    With ``augment`` (a :class:`~sslkit.transforms.ViewAugment`, one view), image
    training batches are augmented on the device, whole batch at once, after
    un-normalising with the source's ``mean``/``std``. Without it, a frozen-backbone
    model may call :meth:`use_features` to replace every split by cached features.

    Args:
        source: the DataModule giving the labelled data.
        label_fraction: share of training labels used, in ``(0, 1]``.
        seed: seed of the label subset.
        batch_size: training batch size.
        eval_batch_size: evaluation batch size.
        num_workers: DataLoader workers.
        augment: optional training augmentation (images only).
    """

    def __init__(self, source: L.LightningDataModule, label_fraction: float = 1.0, seed: int = 0, batch_size: int = 64,
                 eval_batch_size: int = 512, num_workers: int = 0, augment: ViewAugment | None = None) -> None:
        super().__init__()
        check_fraction(label_fraction)
        check_labelled(source, "LabelledDataModule", needs=("num_classes", "labelled_dataset"))
        if int(source.num_classes or 0) < 2:
            raise TypeError(f"{type(source).__name__} must have num_classes >= 2, got {source.num_classes}")
        if augment is not None and augment.num_views != 1:
            raise ValueError("augment must produce one view (num_views=1)")
        self.source, self.label_fraction, self.seed = source, label_fraction, seed
        self.batch_size, self.eval_batch_size, self.num_workers = batch_size, eval_batch_size, num_workers
        self.augment = augment
        self.num_classes = int(source.num_classes)
        self._features: dict[str, Dataset] | None = None

    def dataset(self, split: str) -> Dataset:
        """The labelled dataset of ``split`` (the label subset for ``train``), cached features if in use."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if self._features is not None:
            return self._features[split]
        if split == "train":
            return self.source.labelled_dataset("train", fraction=self.label_fraction, seed=self.seed)
        return self.source.labelled_dataset(split)

    def use_features(self, embed: Callable[[Any], torch.Tensor], device: torch.device | str = "cpu") -> bool:
        """Replace every split by ``embed`` features computed once (only without training augmentation).

        Returns:
            Whether features are now cached.
        """
        if self.augment is not None:
            return False
        if self._features is None:
            from sslkit.utils.features import extract_features

            self._features = {s: TensorDataset(*extract_features(embed, self.dataset(s), device, self.eval_batch_size))
                              for s in SPLITS}
        return True

    def _loader(self, ds: Dataset, batch_size: int, train: bool) -> DataLoader:
        if train:  # shuffle order = f(seed, epoch); resumes exactly mid-epoch, under DDP too
            return self.resumable_loader(ds, batch_size, drop_last=len(ds) > batch_size, num_workers=self.num_workers,
                                         persistent_workers=self.num_workers > 0)
        return DataLoader(ds, batch_size=batch_size, sampler=eval_sampler(ds, self.trainer), num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.dataset("train"), self.batch_size, True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.dataset("val"), self.eval_batch_size, False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.dataset("test"), self.eval_batch_size, False)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        x, y = batch
        training = self.trainer is not None and self.trainer.training
        if self.augment is None or not training or not isinstance(x, torch.Tensor) or x.ndim != 4:
            return batch
        mean, std = self.source.mean, self.source.std
        raw = (x * torch.tensor(std, device=x.device).view(1, -1, 1, 1) + torch.tensor(mean, device=x.device).view(1, -1, 1, 1))
        return normalize(self.augment.batched(raw.clamp(0, 1)), mean, std), y


class _WithDomain(Dataset):
    def __init__(self, base: Dataset, domain: int) -> None:
        self.base, self.domain = base, domain

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        x, y = self.base[i]
        return x, y, self.domain


class DomainAdaptationDataModule(ResumableShuffle, L.LightningDataModule):
    """Labelled source domain(s) plus an unlabelled target domain, for domain adaptation.

    Training batches are ``{"source": (x, y, domain), "target": (x, y)}`` (the
    target labels are never used for training; ``domain`` is the index of the
    source); the longer of the two loaders sets the epoch and the shorter one
    cycles. Validation and test are the target's labelled ``val``/``test`` splits.

    Args:
        sources: labelled source DataModules (several for multi-source transfer).
        target: the target DataModule.
        label_fraction: share of each source's training labels.
        seed: seed of the label subsets.
        batch_size: images per domain per training batch.
        eval_batch_size: evaluation batch size.
        num_workers: DataLoader workers.
    """

    def __init__(self, sources: list[L.LightningDataModule], target: L.LightningDataModule, label_fraction: float = 1.0,
                 seed: int = 0, batch_size: int = 64, eval_batch_size: int = 512, num_workers: int = 0) -> None:
        super().__init__()
        check_fraction(label_fraction)
        if not sources:
            raise ValueError("give at least one source domain")
        classes = {int(s.num_classes) for s in sources} | {int(target.num_classes)}
        if len(classes) != 1:
            raise ValueError(f"source and target domains must share their classes, got num_classes {classes}")
        self.sources, self.target = list(sources), target
        self.label_fraction, self.seed = label_fraction, seed
        self.batch_size, self.eval_batch_size, self.num_workers = batch_size, eval_batch_size, num_workers
        self.num_classes = classes.pop()
        self.num_domains = len(self.sources) + 1

    def source_dataset(self) -> Dataset:
        """The labelled training sets of every source, each item ``(x, y, source index)``."""
        from torch.utils.data import ConcatDataset

        return ConcatDataset([_WithDomain(s.labelled_dataset("train", fraction=self.label_fraction, seed=self.seed), i)
                              for i, s in enumerate(self.sources)])

    def source_dataset_xy(self) -> Dataset:
        """The labelled training sets of every source as ``(x, y)`` items."""
        from torch.utils.data import ConcatDataset

        return ConcatDataset([s.labelled_dataset("train", fraction=self.label_fraction, seed=self.seed)
                              for s in self.sources])

    def target_dataset(self, split: str = "train") -> Dataset:
        return self.target.labelled_dataset(split, fraction=1.0) if split == "train" else self.target.labelled_dataset(split)

    def _loader(self, ds: Dataset, batch_size: int, train: bool, stream: int = 0) -> DataLoader:
        if train:  # shuffle order = f(seed, epoch); each loader resumes exactly mid-epoch, under DDP too
            return self.resumable_loader(ds, batch_size, stream=stream, drop_last=True, num_workers=self.num_workers)
        return DataLoader(ds, batch_size=batch_size, num_workers=self.num_workers, sampler=eval_sampler(ds, self.trainer))

    def train_dataloader(self):
        from lightning.pytorch.utilities import CombinedLoader

        return CombinedLoader({"source": self._loader(self.source_dataset(), self.batch_size, True),
                               "target": self._loader(self.target_dataset("train"), self.batch_size, True, stream=1)},
                              mode="max_size_cycle")

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.target_dataset("val"), self.eval_batch_size, False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.target_dataset("test"), self.eval_batch_size, False)
