"""Checks on the data a run reads: each stops with the file or split, the row and the fix.

Small functions called where the data is read (corpus files, labelled CSVs,
the splits of an image DataModule), so bad data fails before training with a
message that points at it, not as a decoder or CUDA assertion deep in a step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch


class BadDataError(ValueError):
    """Input data that cannot be used as is; the message names the file or split, the row and the fix."""


def read_utf8_text(path: str | Path) -> str:
    """The text of a corpus file, which must be non-empty UTF-8.

    Raises:
        BadDataError: the file is empty (or whitespace only), or holds bytes that are not UTF-8
            (the message gives the offset and line of the first one).
    """
    path = Path(path)
    data = path.read_bytes()
    if not data.strip():
        raise BadDataError(f"{path} is empty: every corpus file must hold text. Remove the file or fill it")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise BadDataError(f"{path} is not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start} (line {line}) "
                           "cannot be decoded. Re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8) or remove "
                           "it") from None


def check_label_cells(path: str | Path, labels: list[str]) -> None:
    """Every row of a labelled file has a label (an empty cell would silently become a class of its own)."""
    empty = [i for i, y in enumerate(labels) if not str(y).strip()]
    if empty:
        raise BadDataError(f"{path}: data row {empty[0] + 1} (header excluded) has an empty label ({len(empty)} rows "
                           "in all). Fill in the labels or remove those rows")


def check_split(name: str, dataset: Any, labels: np.ndarray, num_classes: int) -> None:
    """Labels inside ``[0, num_classes)`` (or ``-1``, unlabelled) and, for tensor datasets, finite pixels.

    Args:
        name: the split's name, for the message.
        dataset: the split's dataset (a ``TensorDataset``'s first tensor is checked for NaN/Inf).
        labels: its labels.
        num_classes: classes of the DataModule (``0``: labels are not checked against a count).
    """
    labels = np.asarray(labels)
    if labels.size:
        high = num_classes if num_classes > 0 else np.iinfo(np.int64).max
        bad = np.flatnonzero((labels < -1) | (labels >= high))
        if bad.size:
            raise BadDataError(f"{name} split: row {bad[0]} has label {labels[bad[0]]}, outside num_classes="
                               f"{num_classes} (labels are 0..{num_classes - 1}, -1 = unlabelled; {bad.size} rows in "
                               "all). Fix the labels or the DataModule's num_classes")
    tensors = getattr(dataset, "tensors", None)
    if tensors and torch.is_tensor(tensors[0]) and tensors[0].is_floating_point():
        x = tensors[0]
        finite = torch.isfinite(x.reshape(len(x), -1)).all(dim=1)
        if not bool(finite.all()):
            bad = torch.nonzero(~finite).flatten()
            raise BadDataError(f"{name} split: image {int(bad[0])} has NaN/Inf pixels ({len(bad)} images in all). "
                               "Fix or drop those images before building the dataset")
