"""Images or flat vectors from NumPy array files (``.npy`` / ``.npz``), with or without labels."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from sslkit.data.base import ImageDataModule
from sslkit.data.checks import BadDataError


def _load(path: str, key: str | None, what: str) -> np.ndarray | None:
    """The array of a ``.npy`` file, or the ``key`` array of a ``.npz`` (``None`` if the ``.npz`` lacks an optional key)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} file {p} does not exist (working directory {Path.cwd()}); set "
                                f"data.init_args.{'labels_path' if what == 'labels' else 'path'} to a .npy or .npz file")
    if p.suffix not in (".npy", ".npz"):
        raise BadDataError(f"{p}: {what} must be a .npy or .npz file (numpy.save / numpy.savez), got {p.suffix!r}")
    data = np.load(p, allow_pickle=False)
    if p.suffix == ".npy":
        return data
    with data:
        if key in data.files:
            return data[key]
        if what == "labels":
            return None
        raise BadDataError(f"{p} has no array {key!r} (it holds {data.files}); set data.init_args.x_key")


def to_images(x: np.ndarray, image_shape: Sequence[int] | None = None) -> np.ndarray:
    """``(N, C, H, W)`` from ``(N, H, W)``, ``(N, H, W, C)``, ``(N, C, H, W)`` or flat ``(N, D)`` arrays.

    Flat vectors take ``image_shape`` ``(C, H, W)``, else ``1 x S x S`` when ``D = S^2`` (784: 28x28 grey) or
    ``3 x S x S`` when ``D = 3 S^2`` (3072: 32x32 RGB, channels first).
    """
    n = x.shape[0]
    if x.ndim == 2:
        d = x.shape[1]
        if image_shape is None:
            for c in (1, 3):
                s = math.isqrt(d // c)
                if d % c == 0 and s * s * c == d:
                    image_shape = (c, s, s)
                    break
            else:
                raise BadDataError(f"flat vectors of {d} values are not a square image (S*S or 3*S*S values); set "
                                   "data.init_args.image_shape to [C, H, W]")
        if math.prod(image_shape) != d:
            raise BadDataError(f"image_shape {list(image_shape)} holds {math.prod(image_shape)} values, the vectors {d}")
        return x.reshape(n, *image_shape)
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4:
        if x.shape[1] in (1, 3):
            return x
        if x.shape[3] in (1, 3):
            return x.transpose(0, 3, 1, 2)
    raise BadDataError(f"images must be (N, H, W), (N, H, W, C), (N, C, H, W) with 1 or 3 channels, or flat (N, D) "
                       f"vectors; got an array of shape {x.shape}")


class ArrayDataModule(ImageDataModule):
    """Images (or flat vectors of square images) and optional labels from ``.npy`` / ``.npz`` files.

    Values are multiplied by ``scale`` (default ``1/255`` for uint8 arrays, ``1`` otherwise) and must then lie in
    ``[0, 1]``; uint8 pixels scaled by ``1/255`` stay uint8 in memory (the fast batched path). The split is
    ``split`` (train, val, test fractions) **in file order** unless ``shuffle_before_split``. Without labels every
    label is ``-1``: the methods train, the probe, kNN and summary have nothing to score.

    Args:
        path: a ``.npy`` array, or a ``.npz`` holding ``x_key`` (and ``y_key`` for labels).
        labels_path: a ``.npy`` of integer labels (``-1`` = unlabelled), one per image.
        x_key: the images' name inside a ``.npz``.
        y_key: the labels' name inside a ``.npz`` (optional there).
        image_shape: ``[C, H, W]`` of flat vectors (default: square, 1 or 3 channels).
        scale: factor applied to the values (``0.00392156862745098`` = 1/255).
        split: train, val and test fractions, each > 0, summing to 1.
        shuffle_before_split: shuffle (with ``split_seed``) before splitting; default: in order.
        split_seed: seed of that shuffle.
        num_classes: number of classes (default: largest label + 1).
        mean: per-channel mean the views are normalised with (default: the training split's).
        std: per-channel standard deviation (default: the training split's).
        **kwargs: see :class:`~sslkit.data.base.ImageDataModule`.
    """

    def __init__(self, path: str, labels_path: str | None = None, x_key: str = "x", y_key: str = "y",
                 image_shape: list[int] | None = None, scale: float | None = None,
                 split: tuple[float, float, float] = (0.8, 0.1, 0.1), shuffle_before_split: bool = False,
                 split_seed: int = 0, num_classes: int | None = None, mean: list[float] | None = None,
                 std: list[float] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if len(split) != 3 or min(split) <= 0 or abs(sum(split) - 1) > 1e-6:
            raise ValueError(f"split must be three fractions > 0 (train, val, test) summing to 1, got {list(split)}")
        raw = _load(path, x_key, "images")
        images = to_images(raw, image_shape)
        labels = _load(labels_path, y_key, "labels") if labels_path else (
            _load(path, y_key, "labels") if path.endswith(".npz") else None)
        if labels_path and labels is None:
            raise BadDataError(f"{labels_path} has no array {y_key!r}; set data.init_args.y_key")
        n = len(images)
        if labels is None:
            labels = np.full(n, -1, dtype=np.int64)
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != n or not np.issubdtype(labels.dtype, np.integer):
            raise BadDataError(f"{labels_path or path}: {len(labels)} {labels.dtype} labels for {n} images; labels must "
                               "be integers (-1 = unlabelled), one per image")
        self.num_classes = int(num_classes if num_classes is not None else max(int(labels.max(initial=-1)) + 1, 0))
        if scale is None:
            scale = 1 / 255 if images.dtype == np.uint8 else 1.0
        self.scale = scale
        if images.dtype == np.uint8 and math.isclose(scale, 1 / 255):
            x = torch.from_numpy(np.ascontiguousarray(images))
        else:
            x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)) * scale
            low, high = float(x.min()), float(x.max())
            if low < -1e-6 or high > 1 + 1e-6:
                raise BadDataError(f"{path}: values lie in [{low:.4g}, {high:.4g}] after scale={scale}; they must lie "
                                   "in [0, 1]: set data.init_args.scale (0.00392156862745098 for 0-255 pixels)")
        order = np.random.default_rng(split_seed).permutation(n) if shuffle_before_split else np.arange(n)
        n_train, n_val = int(round(split[0] * n)), int(round(split[1] * n))
        self.parts = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
        if min(len(p) for p in self.parts.values()) == 0:
            raise ValueError(f"{n} items split {list(split)} leave an empty split; give more data or other fractions")
        self._x, self._y = x, torch.from_numpy(labels.astype(np.int64))
        train = self._x[torch.as_tensor(self.parts["train"])]
        train = train.float() / 255 if train.dtype == torch.uint8 else train
        channels = train.shape[1]
        self.mean = tuple(mean) if mean is not None else tuple(train.mean(dim=(0, 2, 3)).tolist())
        self.std = tuple(std) if std is not None else tuple(train.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist())
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(f"mean and std need {channels} values (one per channel), got {list(self.mean)}, {list(self.std)}")
        self.image_shape = tuple(x.shape[1:])

    def load_transform(self):
        if self.image_size == self.image_shape[1] == self.image_shape[2]:  # stored at the views' size already
            return _identity
        return super().load_transform()

    def build_splits(self) -> dict[str, tuple[TensorDataset, np.ndarray]]:
        out = {}
        for name, idx in self.parts.items():
            index = torch.as_tensor(idx)
            y = self._y[index]
            out[name] = (TensorDataset(self._x[index], y), y.numpy())
        return out


def _identity(x):
    return x
