"""Moving digits: short clips of scikit-learn digits bouncing on a canvas (offline video data).

Batches the methods see (the image DataModule contract, :mod:`sslkit.data.base`):

* train: ``(views, labels)`` where ``views`` is the clip as a list of ``num_frames``
  normalised ``(B, C, H, W)`` frames in time order (so ``views[t]`` is frame ``t``
  of every clip and a method declares how many frames it needs with ``num_views``);
  ``labels`` the first digit's class, ``-1`` outside ``label_fraction``.
* validation ``[bank, val]`` and test: single clean frames ``(images, labels)``,
  one seeded frame of each clip of the split, as are :meth:`labelled_dataset` items.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from sslkit.data.base import ImageDataModule
from sslkit.data.digits import DigitsDataModule
from sslkit.transforms import normalize

_SPLIT_IDS = {"train": 0, "val": 1, "test": 2}


def bounce(start: np.ndarray, velocity: np.ndarray, limit: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions and velocities of points moving in the box ``[0, limit]`` and bouncing off its walls.

    Each step adds the velocity; a coordinate that leaves ``[0, limit]`` is
    reflected back inside (``p -> -p`` or ``2 * limit - p``) and that velocity
    component changes sign (elastic bounce). Each component's speed must be at
    most ``limit`` so one reflection suffices.

    Args:
        start: ``(..., 2)`` positions in ``[0, limit]``.
        velocity: ``(..., 2)`` displacement per step.
        limit: upper bound of every coordinate.
        steps: positions returned (``steps >= 1``; the first is ``start``).

    Returns:
        ``(positions, velocities)``, each ``(steps, ..., 2)``; ``velocities[t]``
        is the displacement from step ``t`` to ``t + 1`` before any bounce.
    """
    if np.any(np.abs(velocity) > limit) or np.any(start < 0) or np.any(start > limit) or steps < 1:
        raise ValueError("bounce needs start in [0, limit], |velocity| <= limit and steps >= 1")
    pos, vel = [np.asarray(start, float)], [np.asarray(velocity, float)]
    for _ in range(steps - 1):
        p, v = pos[-1] + vel[-1], vel[-1].copy()
        low, high = p < 0, p > limit
        p[low], p[high] = -p[low], 2 * limit - p[high]
        v[low | high] *= -1
        pos.append(p)
        vel.append(v)
    return np.stack(pos), np.stack(vel)


class MovingDigits(Dataset):
    """Clips ``(num_frames, 3, canvas, canvas)`` in ``[0, 1]``: ``num_digits`` digits moving on a black canvas.

    Clip ``i`` shows digit ``i % N`` (and, for ``num_digits > 1``, seeded random
    others of the same split) starting at a uniform position with a uniform
    direction and a speed in ``speed`` pixels per frame, bouncing off the
    borders (:func:`bounce`). Digits are drawn at rounded positions, overlaps
    take the brighter pixel. Everything is fixed by ``seed``; frames are
    rendered on access. The label is the first digit's class.

    Args:
        digits: ``(N, d, d)`` digit images in ``[0, 1]``.
        labels: ``(N,)`` their classes.
        canvas_size: side of the frames.
        num_frames: frames per clip.
        num_digits: digits per clip.
        speed: ``(min, max)`` speed in pixels per frame.
        clips_per_digit: clips whose first digit is each source digit.
        seed: seed (or seed sequence) of the trajectories and of the extra digits.
    """

    def __init__(self, digits: torch.Tensor, labels: np.ndarray, canvas_size: int = 16, num_frames: int = 6,
                 num_digits: int = 1, speed: tuple[float, float] = (1.0, 2.5), clips_per_digit: int = 1,
                 seed: int | Sequence[int] = 0) -> None:
        n, d = digits.shape[0], digits.shape[-1]
        limit = canvas_size - d
        if limit < 1 or num_frames < 1 or num_digits < 1 or clips_per_digit < 1:
            raise ValueError(f"need canvas_size > digit size ({canvas_size} vs {d}) and num_frames, num_digits, "
                             f"clips_per_digit >= 1")
        if not 0 <= speed[0] <= speed[1] <= limit:
            raise ValueError(f"speed must satisfy 0 <= min <= max <= canvas_size - digit_size = {limit}, got {speed}")
        rng, m = np.random.default_rng(seed), n * clips_per_digit
        self.sources = np.stack([np.arange(m) % n] + [rng.integers(n, size=m) for _ in range(num_digits - 1)], 1)
        start = rng.uniform(0, limit, (m, num_digits, 2))
        angle, norm = rng.uniform(0, 2 * np.pi, (m, num_digits)), rng.uniform(*speed, (m, num_digits))
        velocity = norm[..., None] * np.stack([np.sin(angle), np.cos(angle)], -1)  # (dy, dx)
        positions, self.velocities = bounce(start, velocity, limit, num_frames)  # (T, M, K, 2)
        self.positions = np.rint(positions).astype(np.int64)
        self.digits, self.labels = digits, np.asarray(labels)[self.sources[:, 0]]
        self.canvas_size, self.num_frames = canvas_size, num_frames

    def __len__(self) -> int:
        return len(self.sources)

    def frame(self, i: int, t: int) -> torch.Tensor:
        """Frame ``t`` of clip ``i``: ``(3, canvas, canvas)``."""
        canvas, d = torch.zeros(self.canvas_size, self.canvas_size), self.digits.shape[-1]
        for k, src in enumerate(self.sources[i]):
            y, x = self.positions[t, i, k]
            patch = canvas[y:y + d, x:x + d]
            torch.maximum(patch, self.digits[src], out=patch)
        return canvas.expand(3, -1, -1).clone()

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.stack([self.frame(i, t) for t in range(self.num_frames)]), int(self.labels[i])


class _Frame(Dataset):
    """``(frame, label)`` items: frame ``index[i]`` of clip ``i``."""

    def __init__(self, clips: MovingDigits, index: np.ndarray) -> None:
        self.clips, self.index = clips, index

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.clips.frame(i, int(self.index[i])), int(self.clips.labels[i])


class _TrainClips(Dataset):
    """Training items ``([frame_0, ..., frame_T-1] normalised, label)`` with the DataModule's masked labels."""

    def __init__(self, clips: MovingDigits, labels: np.ndarray, mean, std) -> None:
        self.clips, self.labels, self.mean, self.std = clips, labels, mean, std

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> tuple[list[torch.Tensor], int]:
        return list(normalize(self.clips[i][0], self.mean, self.std).unbind(0)), int(self.labels[i])


class FrameSpec(NamedTuple):
    """What the frames look like to size checks (:class:`~sslkit.callbacks.ViewSizeCheck`): side and count."""

    size: int
    num_views: int


class MovingDigitsDataModule(ImageDataModule):
    """Moving digits clips for video self-supervision (future-frame prediction), labelled for evaluation.

    The 1,797 scikit-learn digits are split exactly as :class:`~sslkit.data.DigitsDataModule`
    splits them (stratified, ``split_seed``), upsampled to ``digit_size`` and
    animated on a ``canvas_size`` canvas (:class:`MovingDigits`), so no test
    digit moves in a training clip. Training batches are whole clips (see the
    module docstring); evaluation sees one seeded frame per clip. ``mean`` and
    ``std`` are measured on the training frames. Nothing is downloaded. The
    defaults (8 px digits, their native size, on a 16 px canvas, 6 frames) fit
    a CPU; e.g. ``canvas_size: 32, digit_size: 16, num_frames: 10`` is 4x the
    pixels and 1.7x the frames.

    Args:
        canvas_size: side of the frames.
        digit_size: side of the digits on the canvas.
        num_frames: frames per clip.
        num_digits: digits per clip (labelled by the first).
        speed: ``(min, max)`` speed in pixels per frame.
        clips_per_digit: training clips per training digit (val/test: one each).
        clip_seed: seed of the trajectories and evaluation frames.
        val_fraction: share of digits held out for validation.
        test_fraction: share of digits held out for test.
        split_seed: seed of the stratified digit split.
        batch_size: clips per training batch.
        eval_batch_size: frames per evaluation batch.
        num_workers: DataLoader workers.
        label_fraction: share of training labels used by probes and kNN.
        bank_size: cap on the kNN bank.
        seed: seed of the label subset.
    """

    num_classes = 10

    def __init__(self, canvas_size: int = 16, digit_size: int = 8, num_frames: int = 6, num_digits: int = 1,
                 speed: tuple[float, float] = (1.0, 2.5), clips_per_digit: int = 1, clip_seed: int = 0,
                 val_fraction: float = 0.1, test_fraction: float = 0.2, split_seed: int = 0, batch_size: int = 64,
                 eval_batch_size: int = 256, num_workers: int = 0, label_fraction: float = 1.0,
                 bank_size: int = 20000, seed: int = 0) -> None:
        super().__init__(augment_on="worker", batch_size=batch_size, eval_batch_size=eval_batch_size,
                         num_workers=num_workers, label_fraction=label_fraction, bank_size=bank_size, seed=seed)
        self.digits = DigitsDataModule(load_size=digit_size, val_fraction=val_fraction, test_fraction=test_fraction,
                                       split_seed=split_seed)
        if not digit_size < canvas_size or num_frames < 1 or clips_per_digit < 1:
            raise ValueError("need digit_size < canvas_size, num_frames >= 1 and clips_per_digit >= 1")
        self.clip_args = dict(canvas_size=canvas_size, num_frames=num_frames, num_digits=num_digits, speed=tuple(speed))
        self.clips_per_digit, self.clip_seed = clips_per_digit, clip_seed
        self.views = [FrameSpec(canvas_size, num_frames)]
        self._clips: dict[str, MovingDigits] = {}
        self._stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    def load_transform(self):
        return _identity  # frames are made at canvas size

    def clips(self, split: str) -> MovingDigits:
        """The clips of a split (``train``, ``val`` or ``test``), built once."""
        if split not in self._clips:
            data, labels = self.digits.splits()[split]
            per = self.clips_per_digit if split == "train" else 1
            self._clips[split] = MovingDigits(data.tensors[0][:, 0], labels, clips_per_digit=per,
                                              seed=[self.clip_seed, _SPLIT_IDS[split], 1], **self.clip_args)
        return self._clips[split]

    def build_splits(self):
        out = {}
        for split in ("train", "val", "test"):
            clips = self.clips(split)
            rng = np.random.default_rng([self.clip_seed, _SPLIT_IDS[split]])
            index = rng.integers(clips.num_frames, size=len(clips))
            out[split] = (_Frame(clips, index), clips.labels)
        return out

    def _frame_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        if self._stats is None:
            train = self.clips("train")
            x = torch.stack([train[i][0] for i in range(min(len(train), 256))])
            m, s = float(x.mean()), float(x.std())
            self._stats = ((m,) * 3, (s,) * 3)
        return self._stats

    @property
    def mean(self) -> tuple[float, ...]:
        return self._frame_stats()[0]

    @property
    def std(self) -> tuple[float, ...]:
        return self._frame_stats()[1]

    def train_dataloader(self):
        labels = np.full(len(self.clips("train")), -1)
        idx = self.labelled_indices()
        labels[idx] = self.clips("train").labels[idx]
        return self._loader(_TrainClips(self.clips("train"), labels, self.mean, self.std), self.batch_size, train=True)


def _identity(x):
    return x
