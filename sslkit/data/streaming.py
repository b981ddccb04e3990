"""Streaming image data on LitData: chunks written once, read with shuffling and mid-epoch resume.

:func:`convert_image_folder` (``sslkit convert-litdata``) turns an ImageFolder
into ``train/``, ``val/`` and ``test/`` folders of LitData chunks with
``litdata.optimize``: each item holds the image file's bytes unchanged (so
decoding gives exactly the pixels the ImageFolder path gives), its label and
its position. ``sslkit.json`` next to them records the classes and every
split's labels (in stored order), so label fractions and kNN banks need no
pass over the data.

:class:`StreamingImageDataModule` trains from the ``train`` chunks through
``litdata.StreamingDataset`` / ``StreamingDataLoader``: shuffled by chunk and
item with a new order each epoch, sharded over processes and nodes by LitData,
and resumable mid-epoch (Lightning saves and restores the loader's
``state_dict``). Evaluation splits are read by index, like any dataset.

    sslkit convert-litdata --root data/imagenet100/train --val_root data/imagenet100/val \\
        --out data/imagenet100-litdata --num_workers 8
    sslkit fit --config recipes/pretrain/imagenet100/simclr_streaming.yaml
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from sslkit.data.base import ImageDataModule, _PerSampleViews
from sslkit.data.memory import collate
from sslkit.data.vision import IMAGENET_MEAN, IMAGENET_STD

SPLITS = ("train", "val", "test")
META = "sslkit.json"


def _read_file(item: tuple[str, int, int]) -> dict[str, Any]:
    """``litdata.optimize`` work item: one image file to ``{"image": bytes, "label", "idx"}``."""
    from PIL import Image

    path, label, idx = item
    data = Path(path).read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
    except Exception as e:
        raise ValueError(f"unreadable image file {path} ({type(e).__name__}: {e}); remove or replace it") from e
    return {"image": data, "label": int(label), "idx": int(idx)}


def decode(data: bytes):
    """Image file bytes to an RGB PIL image (what ImageFolder's loader gives for the same file)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB")


def convert_image_folder(root: str, out: str, labelled: bool = True, val_root: str | None = None,
                         test_root: str | None = None, val_fraction: float = 0.1, test_fraction: float = 0.1,
                         split_seed: int = 0, chunk_bytes: str = "64MB", num_workers: int = 1,
                         start_method: Literal["fork", "spawn"] | None = None) -> Path:
    """Convert an ImageFolder into LitData chunks for :class:`StreamingImageDataModule`.

    The splits are the ones :class:`~sslkit.data.ImageFolderDataModule` makes of
    the same arguments (``val_root`` / ``test_root``, else seeded stratified
    fractions of ``root``). Items keep their order within each split.

    Args:
        root: the training folder (``root/<class>/<image>``, or any images with ``labelled: false``).
        out: output folder; gets ``train/``, ``val/``, ``test/`` and ``sslkit.json``.
        labelled: whether ``root`` has one subfolder per class.
        val_root: optional validation folder.
        test_root: optional test folder.
        val_fraction: share held out for validation when there is no ``val_root``.
        test_fraction: share held out for test when there is no ``test_root``.
        split_seed: seed of the held-out splits.
        chunk_bytes: target size of one chunk file.
        num_workers: processes reading files.
        start_method: multiprocessing start method of those processes (default: LitData's).

    Returns:
        The output folder.
    """
    from litdata import optimize

    from sslkit.data.vision import ImageFolderDataModule

    source = ImageFolderDataModule(root=root, labelled=labelled, val_root=val_root, test_root=test_root,
                                   val_fraction=val_fraction, test_fraction=test_fraction, split_seed=split_seed)
    out_dir = Path(out).expanduser()
    if (out_dir / META).exists():
        raise FileExistsError(f"{out_dir} already holds converted data ({META}); choose another --out or remove it")
    meta: dict[str, Any] = {"format": 1, "classes": source.classes, "splits": {}}
    for name in SPLITS:
        data, labels = source.splits()[name]
        items = [(path, int(y), i) for i, (path, y) in enumerate(zip(data.paths, labels))]
        optimize(fn=_read_file, inputs=items, output_dir=str(out_dir / name), chunk_bytes=chunk_bytes,
                 num_workers=max(1, min(num_workers, len(items))), keep_data_ordered=True, reorder_files=False,
                 start_method=start_method, verbose=False)
        meta["splits"][name] = {"size": len(items), "labels": [int(y) for y in labels]}
    (out_dir / META).write_text(json.dumps(meta))
    return out_dir


class _Stream:
    """Keyword arguments of every ``StreamingDataset`` the DataModule opens."""

    def __init__(self, cache_dir: str | None, max_cache_size: str) -> None:
        self.cache_dir, self.max_cache_size = cache_dir, max_cache_size

    def open(self, input_dir: Path, **kwargs: Any):
        from litdata import StreamingDataset

        return StreamingDataset(str(input_dir), cache_dir=self.cache_dir, max_cache_size=self.max_cache_size, **kwargs)


class StreamingImages(Dataset):
    """One converted split read by index: ``(PIL image, label)`` items, in stored order.

    Args:
        input_dir: the split's chunk folder.
        labels: the split's labels (from ``sslkit.json``).
        stream: how to open the ``StreamingDataset``.
    """

    def __init__(self, input_dir: Path, labels: np.ndarray, stream: _Stream) -> None:
        self.input_dir, self.labels, self.stream = input_dir, labels, stream
        self._data = None  # opened lazily, once per process (DataLoader workers open their own)

    def __len__(self) -> int:
        return len(self.labels)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_data": None}

    def __getitem__(self, i: int):
        if self._data is None:
            self._data = self.stream.open(self.input_dir)
        item = self._data[int(i)]
        if item["idx"] != i:
            raise RuntimeError(f"{self.input_dir}: item {i} holds position {item['idx']}; the chunks are out of order")
        return decode(item["image"]), int(self.labels[i])


class _TrainItem:
    """``StreamingDataset`` transform of a training item: ``(transform(image), label with label_fraction applied)``."""

    def __init__(self, transform: Callable, labels: np.ndarray) -> None:
        self.transform, self.labels = transform, labels

    def __call__(self, item: dict[str, Any]):
        return self.transform(decode(item["image"])), int(self.labels[item["idx"]])


class StreamingImageDataModule(ImageDataModule):
    """Images converted to LitData chunks by ``sslkit convert-litdata``, streamed for training.

    Training reads the ``train`` chunks through ``litdata.StreamingDataLoader``
    (shuffled with a new order every epoch, split over processes and nodes,
    resumable mid-epoch); ``val``, ``test`` and the labelled subsets for
    probes and kNN are read by index. Labels and classes come from
    ``sslkit.json``. Every other behaviour (views, ``augment_on``,
    ``label_fraction``, batches) is :class:`~sslkit.data.base.ImageDataModule`'s.

    Args:
        input_dir: the folder ``sslkit convert-litdata --out`` wrote (local).
        cache_dir: LitData's chunk cache (used when chunks live remotely).
        max_cache_size: cap on that cache.
        mean: per-channel normalisation mean (default ImageNet's).
        std: per-channel normalisation std (default ImageNet's).
        **kwargs: see :class:`~sslkit.data.base.ImageDataModule`.
    """

    def __init__(self, input_dir: str, cache_dir: str | None = None, max_cache_size: str = "100GB",
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD, **kwargs) -> None:
        super().__init__(**kwargs)
        self.input_dir = Path(input_dir).expanduser()
        meta_file = self.input_dir / META
        if not meta_file.is_file():
            raise FileNotFoundError(
                f"{meta_file} not found: {self.input_dir} is not a converted dataset. Convert an ImageFolder first: "
                f"sslkit convert-litdata --root <image folder> --out {self.input_dir}")
        self.meta = json.loads(meta_file.read_text())
        self.classes: list[str] = list(self.meta["classes"])
        self.num_classes = len(self.classes)
        self.mean, self.std = tuple(mean), tuple(std)
        self.stream = _Stream(cache_dir, max_cache_size)

    def build_splits(self) -> dict[str, tuple[Dataset, np.ndarray]]:
        out = {}
        for name in SPLITS:
            labels = np.asarray(self.meta["splits"][name]["labels"], dtype=np.int64)
            out[name] = (StreamingImages(self.input_dir / name, labels, self.stream), labels)
        return out

    def train_dataloader(self):
        from litdata import StreamingDataLoader

        labels = self.splits()["train"][1]
        masked = np.full(len(labels), -1)
        idx = self.labelled_indices()
        masked[idx] = labels[idx]
        transform = self.load_transform() if self.augment_on == "device" else _PerSampleViews(self.views, self.mean, self.std)
        data = self.stream.open(self.input_dir / "train", shuffle=True, drop_last=True, seed=self.shuffle_seed(),
                                transform=_TrainItem(transform, masked))
        return StreamingDataLoader(data, batch_size=self.batch_size, num_workers=self.num_workers, drop_last=True,
                                   pin_memory=torch.cuda.is_available(), collate_fn=collate)
