"""The contracts evaluation code is typed against: a labelled data source and an embedder.

:class:`LabelledData` is what callbacks (the end-of-run summary, image grids)
and transfer (sweeps, classifiers, domain adaptation) ask of a DataModule: its
classes, its labelled subset, clean labelled items of each split and the
evaluation bank. :class:`LabelledSplits` implements all of it from two hooks, so
a DataModule conforms by subclassing it and writing :meth:`~LabelledSplits.train_labels`
and :meth:`~LabelledSplits.clean_split` (the image DataModules do it in
:class:`~sslkit.data.ImageDataModule`, the text ones the same way).

:class:`Embedder` is what they ask of a model: ``embed(x) -> (B, num_features)``
frozen features (every :class:`~sslkit.methods.SSLMethod` conforms).
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from sslkit.data.subsets import stratified_subset

SPLITS = ("train", "val", "test")


class LabelledData(Protocol):
    """A labelled data source: the one contract evaluation code reads data through.

    Attributes:
        num_classes: number of classes (0 or 1 when the data is unlabelled).
    """

    num_classes: int

    def labelled_indices(self, fraction: float | None = None, seed: int | None = None) -> np.ndarray:
        """Sorted indices (into the whole train split) of the stratified labelled subset."""
        ...

    def labelled_dataset(self, split: str, fraction: float | None = None, seed: int | None = None) -> Dataset:
        """Clean ``(input, label)`` items of ``split``; for ``train`` the labelled subset."""
        ...

    def bank_dataset(self) -> Dataset:
        """The evaluation bank: clean labelled training items, at most ``bank_size``."""
        ...


class Embedder(Protocol):
    """A model read by evaluation: ``embed(x)`` gives ``(B, num_features)`` features."""

    num_features: int

    def embed(self, x: Any) -> torch.Tensor:
        ...


MEMBERS = ("num_classes", "labelled_indices", "labelled_dataset", "bank_dataset")


def implements(obj: Any, *names: str) -> bool:
    """Whether ``obj`` has every member ``names`` (default all of :class:`LabelledData`), looked up statically.

    No property is evaluated, so no data is loaded.
    """
    return all(_lookup(obj, name) is not None for name in names or MEMBERS)


def check_labelled(data: Any, who: str, needs: tuple[str, ...] = MEMBERS) -> LabelledData:
    """Return ``data`` if it has the members of :class:`LabelledData` that ``who`` ``needs``, else raise a clear :class:`TypeError`."""
    missing = [name for name in needs if _lookup(data, name) is None]
    if missing:
        raise TypeError(f"{who} needs a labelled DataModule; {type(data).__name__} lacks {', '.join(missing)}. "
                        "Subclass sslkit.data.contracts.LabelledSplits (or sslkit.data.ImageDataModule) and implement "
                        "train_labels() and clean_split(split)")
    return data


def _lookup(obj: Any, name: str) -> Any:
    try:
        return inspect.getattr_static(obj, name)
    except AttributeError:
        return None


class LabelledSplits:
    """Implements :class:`LabelledData` from two hooks; mixed into the DataModules.

    A subclass sets ``num_classes``, ``label_fraction`` (default share of training
    labels), ``seed`` (seed of the label subset) and ``bank_size``, and writes
    :meth:`train_labels` and :meth:`clean_split`. The split and fraction rules
    themselves live in :mod:`sslkit.data.subsets`.
    """

    num_classes: int
    label_fraction: float
    seed: int
    bank_size: int

    # ------------------------------------------------------------------ hooks
    def train_labels(self) -> np.ndarray:
        """Labels of the whole training split (``-1`` where unlabelled)."""
        raise NotImplementedError

    def clean_split(self, split: str) -> Dataset:
        """Clean (evaluation-transformed) ``(input, label)`` items of the whole ``split``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ the contract
    def labelled_indices(self, fraction: float | None = None, seed: int | None = None) -> np.ndarray:
        """Indices of the labelled training subset (stratified; ``label_fraction`` by default).

        Only labelled items (``>= 0``) are drawn from; unlabelled data gives an empty array.
        """
        labels = np.asarray(self.train_labels())
        labelled = np.flatnonzero(labels >= 0)
        if len(labelled) == 0:  # unlabelled data: no probe / kNN labels
            return labelled
        sub = stratified_subset(labels[labelled], fraction or self.label_fraction, self.seed if seed is None else seed)
        return labelled[sub]

    def labelled_dataset(self, split: str, fraction: float | None = None, seed: int | None = None) -> Dataset:
        """Clean ``(input, label)`` items of a split; for ``train`` the labelled subset.

        Args:
            split: ``"train"``, ``"val"`` or ``"test"``.
            fraction: for ``train``, share of labels kept (default ``label_fraction``).
            seed: for ``train``, seed of the stratified subset (default ``seed``).
        """
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
        ds = self.clean_split(split)
        if split == "train":
            return Subset(ds, self.labelled_indices(fraction, seed).tolist())
        return ds

    def bank_dataset(self) -> Dataset:
        """Clean labelled training items for the kNN bank and the online probe, at most ``bank_size`` (seeded)."""
        bank = self.labelled_dataset("train")
        if len(bank) > self.bank_size:
            keep = np.random.default_rng(self.seed).choice(len(bank), self.bank_size, replace=False)
            bank = Subset(bank, np.sort(keep).tolist())
        return bank
