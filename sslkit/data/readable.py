"""Unreadable image files (truncated, corrupt, not images): stop with the path, or replace and count.

:class:`ReadableImages` wraps one split of ``(image, label)`` items read from
files. When a file cannot be decoded, policy ``stop`` raises
:class:`UnreadableImageError` naming the file; policy ``replace`` flags the
index and returns the next readable sample of the same class instead, so
batch shapes stay fixed and every DDP process keeps drawing the same number of
batches (a process that dropped a sample would hang the others at the next
collective). Flags live in shared memory, so indices flagged inside DataLoader
worker processes are visible to the main process (and to the
:class:`~sslkit.callbacks.UnreadableFilesMonitor` that logs them).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

# what PIL raises on a file it cannot decode: UnidentifiedImageError and "image file is truncated" are
# OSErrors; some decoders raise SyntaxError ("broken PNG file"), ValueError or EOFError on corrupt data
DECODE_ERRORS: tuple[type[BaseException], ...] = (OSError, SyntaxError, ValueError, EOFError,
                                                   Image.DecompressionBombError)
POLICIES = ("stop", "replace")


def check_policy(policy: str) -> None:
    """Raise :class:`ValueError` unless ``policy`` is one of :data:`POLICIES`."""
    if policy not in POLICIES:
        raise ValueError(f"bad_files must be one of {POLICIES}, got {policy!r}")


class UnreadableImageError(ValueError):
    """An image file could not be decoded (policy ``stop``), or no file of a split could."""


class ReadableImages(Dataset):
    """A split of image files in which unreadable files stop the run or are replaced by readable ones.

    Args:
        base: dataset of ``(image, label)`` items; item ``i`` is read from ``paths[i]``.
        paths: the file behind each item (reported in errors, warnings and logs).
        labels: label of each item, ``-1`` where unknown; a replacement of a labelled
            item always has its label.
        policy: ``stop`` raises :class:`UnreadableImageError`; ``replace`` returns the
            next readable item of the same class (any item when unlabelled; scanning
            forward, wrapping around), deterministically. When every file of a class
            is unreadable, ``replace`` raises :class:`UnreadableImageError` naming the
            class: an image of another class would silently train on a wrong label.
        class_names: name of each label, for that message (default ``class <label>``).

    ``flags`` is a shared-memory ``uint8`` vector, 1 where a file was found unreadable.
    """

    def __init__(self, base: Dataset, paths: Sequence[str], labels: Sequence[int] | np.ndarray,
                 policy: Literal["stop", "replace"] = "stop", class_names: Sequence[str] | None = None) -> None:
        check_policy(policy)
        if not len(base) == len(paths) == len(labels):
            raise ValueError(f"base, paths and labels differ in length ({len(base)}, {len(paths)}, {len(labels)})")
        self.base, self.paths, self.policy = base, [str(p) for p in paths], policy
        self.labels = np.asarray(labels, dtype=np.int64)
        self.class_names = list(class_names) if class_names is not None else None
        self.flags = torch.zeros(len(self.paths), dtype=torch.uint8).share_memory_()

    def __len__(self) -> int:
        return len(self.paths)

    def _read(self, i: int):
        """The item, or ``None`` (flagged and warned about) when its file cannot be decoded."""
        try:
            return self.base[i]
        except DECODE_ERRORS as e:
            if self.policy == "stop":
                raise UnreadableImageError(
                    f"cannot read image file {self.paths[i]}: {type(e).__name__}: {e}. Remove or replace the file, "
                    f"or set data.init_args.bad_files: replace to train on a readable image of the same class instead."
                ) from e
            self.flags[i] = 1
            warnings.warn(f"unreadable image file {self.paths[i]} ({type(e).__name__}: {e}); "
                          f"replaced by the next readable image{' of the same class' if self.labels[i] >= 0 else ''}",
                          stacklevel=3)
            return None

    def _candidates(self, i: int) -> np.ndarray:
        """Indices to try instead of ``i``, in order: those of the same label (any index when unlabelled)."""
        order = np.roll(np.arange(len(self)), -i)[1:]  # i+1, ..., n-1, 0, ..., i-1
        return order if self.labels[i] < 0 else order[self.labels[order] == self.labels[i]]

    def _class_name(self, label: int) -> str:
        if self.class_names is not None and 0 <= label < len(self.class_names):
            return f"{self.class_names[label]!r} (label {label})"
        return f"label {label}"

    def __getitem__(self, i: int):
        if not self.flags[i]:
            item = self._read(i)
            if item is not None:
                return item
        for j in self._candidates(i).tolist():
            if not self.flags[j] and (item := self._read(j)) is not None:
                return item
        if self.labels[i] >= 0:
            raise UnreadableImageError(
                f"no readable image file is left in class {self._class_name(int(self.labels[i]))} of this split "
                f"(all {int((self.labels == self.labels[i]).sum())} unreadable, e.g. {self.paths[i]}); replacing it "
                f"by another class's image would train on a wrong label. Add readable images of this class "
                f"or remove its folder (the class then leaves the task).")
        raise UnreadableImageError(f"no readable image file among the {len(self)} files of this split "
                                   f"(e.g. {self.paths[i]}); check the folder")
