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
        labels: label of each item, ``-1`` where unknown; a replacement has the same
            label when the item is labelled and its class has a readable file.
        policy: ``stop`` raises :class:`UnreadableImageError`; ``replace`` returns the
            next readable item (scanning forward, wrapping around), deterministically.

    ``flags`` is a shared-memory ``uint8`` vector, 1 where a file was found unreadable.
    """

    def __init__(self, base: Dataset, paths: Sequence[str], labels: Sequence[int] | np.ndarray,
                 policy: Literal["stop", "replace"] = "stop") -> None:
        check_policy(policy)
        if not len(base) == len(paths) == len(labels):
            raise ValueError(f"base, paths and labels differ in length ({len(base)}, {len(paths)}, {len(labels)})")
        self.base, self.paths, self.policy = base, [str(p) for p in paths], policy
        self.labels = np.asarray(labels, dtype=np.int64)
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
                          f"replaced by the next readable image (of the same class when labelled)", stacklevel=3)
            return None

    def _candidates(self, i: int) -> list[np.ndarray]:
        """Indices to try instead of ``i``, in order: same label first (when labelled), then any."""
        order = np.roll(np.arange(len(self)), -i)[1:]  # i+1, ..., n-1, 0, ..., i-1
        if self.labels[i] < 0:
            return [order]
        same = self.labels[order] == self.labels[i]
        return [order[same], order[~same]]

    def __getitem__(self, i: int):
        if not self.flags[i]:
            item = self._read(i)
            if item is not None:
                return item
        for group in self._candidates(i):
            for j in group.tolist():
                if not self.flags[j] and (item := self._read(j)) is not None:
                    return item
        raise UnreadableImageError(f"no readable image file among the {len(self)} files of this split "
                                   f"(e.g. {self.paths[i]}); check the folder")
