"""The one place where text tasks are split: class-stratified train/val/test by seed (scikit-learn)."""

from __future__ import annotations

import numpy as np


def stratified_splits(labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int,
                      have: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Sorted indices of the ``train``/``val``/``test`` splits of ``labels``, class-stratified with ``seed``.

    Splits named in ``have`` exist already (e.g. a ``test.csv``) and are not carved out.
    ``test_fraction`` is a share of all texts; ``val_fraction`` too (of all texts, when
    both are carved out).

    Args:
        labels: integer labels of the texts to split.
        val_fraction: share held out for validation.
        test_fraction: share held out for test.
        seed: ``random_state`` of :func:`sklearn.model_selection.train_test_split`.
        have: splits that need no carving.

    Returns:
        ``{"train": ..., "val": ..., "test": ...}`` (minus the splits in ``have``).
    """
    from sklearn.model_selection import train_test_split

    def cut(idx: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
        return train_test_split(idx, test_size=share, stratify=labels[idx], random_state=seed)

    rest, out = np.arange(len(labels)), {}
    if "test" not in have:
        rest, out["test"] = cut(rest, test_fraction)
    if "val" not in have:
        rest, out["val"] = cut(rest, val_fraction / (1 - (test_fraction if "test" in out else 0)))
    out["train"] = rest
    return {k: np.sort(v) for k, v in out.items()}
