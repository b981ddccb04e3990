"""Stratified, nested, seed-reproducible label subsets."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def check_fraction(fraction: float, name: str = "label_fraction") -> None:
    """Raise a clear error unless ``0 < fraction <= 1``."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {fraction}; e.g. 0.1 keeps 10% of the labels")


def stratified_subset(labels: Sequence[int] | np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of a class-stratified subset holding ``fraction`` of each class.

    Each class is shuffled once with ``seed`` and the first ``ceil(fraction * n_c)``
    samples are kept (at least one per class), so subsets for growing fractions
    are nested: the 5% subset is contained in the 10% subset for the same seed.

    Args:
        labels: integer class labels of the whole split.
        fraction: kept share of each class, in ``(0, 1]``.
        seed: seed of the per-class shuffles.

    Returns:
        Sorted array of indices into ``labels``.
    """
    check_fraction(fraction)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        keep.append(idx[: max(1, math.ceil(fraction * len(idx)))])
    return np.sort(np.concatenate(keep))
