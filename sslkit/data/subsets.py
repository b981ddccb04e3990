"""Every split and fraction rule of the DataModules, in one place.

* :func:`check_fraction` / :func:`check_held_out`: the fraction checks
  (``label_fraction`` in ``(0, 1]``; held-out shares in ``(0, 1)`` summing below 1);
* :func:`held_out_splits`: seeded train/val/test indices carved from one labelled
  split (stratified by class when every item is labelled), for the splits a
  dataset does not ship;
* :func:`stratified_subset`: the nested label subsets of ``label_fraction``.

The labelled-data contract built on them is :mod:`sslkit.data.contracts`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def check_fraction(fraction: float, name: str = "label_fraction") -> None:
    """Raise a clear error unless ``0 < fraction <= 1``."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {fraction}; e.g. 0.1 keeps 10% of the labels")


def check_held_out(val_fraction: float, test_fraction: float | None = None) -> None:
    """Raise a clear error unless each held-out share is in ``(0, 1)`` and together they stay below 1."""
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if value is not None and not 0.0 < value < 1.0:
            raise ValueError(f"{name} must be in (0, 1), got {value}; e.g. 0.1 holds out 10% of the data")
    if test_fraction is not None and val_fraction + test_fraction >= 1:
        raise ValueError(f"val_fraction + test_fraction must be below 1, got {val_fraction} + {test_fraction}; "
                         "lower one of them")


def hold_out(labels: np.ndarray, idx: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` into ``(kept, held)`` (in scikit-learn's order), ``fraction`` held out.

    Stratified by ``labels[idx]`` when every one of them is labelled (``>= 0``),
    plain seeded shuffling otherwise.
    """
    from sklearn.model_selection import train_test_split

    sub = np.asarray(labels)[idx]
    stratify = sub if len(sub) and (sub >= 0).all() else None
    try:
        kept, held = train_test_split(idx, test_size=fraction, stratify=stratify, random_state=seed)
    except ValueError as e:  # e.g. fewer held-out items than classes
        raise ValueError(f"cannot hold out {fraction} of {len(idx)} items stratified by class: {e}; "
                         "raise the fraction or add data") from e
    return kept, held


def held_out_splits(labels: Sequence[int] | np.ndarray, val_fraction: float, test_fraction: float | None, seed: int,
                    given: Sequence[str] = (), sort_rest: bool = False) -> dict[str, np.ndarray]:
    """Sorted indices of ``train``, ``val`` and ``test`` carved from one split's ``labels``.

    ``test`` is held out first (``test_fraction`` of all items), then ``val``
    from the rest with its share rescaled so that it is ``val_fraction`` of
    all items (``val_fraction`` of the rest when ``test`` is not carved here).
    A split named in ``given`` (the dataset ships it) is not carved and not returned.

    Args:
        labels: labels of the split to carve (``-1`` unlabelled).
        val_fraction: share of all items held out for validation.
        test_fraction: share of all items held out for test (unused when ``test`` is given).
        seed: seed of both carvings.
        given: splits not to carve.
        sort_rest: sort the indices left after ``test`` before carving ``val``
            (the order :class:`~sslkit.data.ImageFolderDataModule` has always used;
            the other DataModules keep scikit-learn's order, so each split stays as it was).

    Returns:
        ``{"train": ..., "val": ..., "test": ...}`` (minus ``given``), each sorted.
    """
    labels = np.asarray(labels)
    rest = np.arange(len(labels))
    out: dict[str, np.ndarray] = {}
    if "test" not in given:
        check_held_out(val_fraction, test_fraction)
        rest, out["test"] = hold_out(labels, rest, test_fraction, seed)
        rest = np.sort(rest) if sort_rest else rest
    if "val" not in given:
        check_held_out(val_fraction)
        rest, out["val"] = hold_out(labels, rest, val_fraction / (1 - (test_fraction if "test" in out else 0)), seed)
    out["train"] = rest
    return {k: np.sort(v) for k, v in out.items()}


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
