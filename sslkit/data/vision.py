"""Standard vision datasets read from a local ``root``: CIFAR-10/100, STL-10 and any ImageFolder.

Nothing is downloaded unless ``download: true`` is set explicitly; when files
are missing the error names the expected paths, the official archive and its
URL. Validation is carved from the official training split by a seeded,
class-stratified split (``val_fraction``); test is the official test split.

The CIFAR and STL-10 readers are torchvision's, subclassed with the md5 sums
set to ``None``: torchvision then only checks that each file exists, so
re-packed or locally generated files in the official format load too
(``verify_checksums: true`` restores torchvision's md5 checks). A download
still verifies the archive's md5.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, Subset
from torchvision import datasets

from sslkit.data.base import ImageDataModule
from sslkit.data.readable import ReadableImages, check_policy
from sslkit.data.subsets import check_held_out, held_out_splits

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _no_md5(cls: type) -> type:
    """A subclass of a torchvision reader whose file checks test existence only."""
    attrs = {"train_list": [[f, None] for f, _ in cls.train_list], "test_list": [[f, None] for f, _ in cls.test_list]}
    if hasattr(cls, "meta"):
        attrs["meta"] = {**cls.meta, "md5": None}
    return type(f"Local{cls.__name__}", (cls,), attrs)


# bound to module names so that datasets pickle into spawned DataLoader workers
LocalCIFAR10, LocalCIFAR100, LocalSTL10 = (_no_md5(c) for c in (datasets.CIFAR10, datasets.CIFAR100, datasets.STL10))
_READERS = {c.__base__: (c.__base__, c) for c in (LocalCIFAR10, LocalCIFAR100, LocalSTL10)}


class _TorchvisionDataModule(ImageDataModule):
    """A torchvision dataset in its official on-disk layout under ``root``.

    Args:
        root: directory that holds ``folder`` (the extracted official archive).
        download: let torchvision download and extract the archive into ``root``
            when files are missing (never implicit).
        val_fraction: share of the labelled training split held out for validation.
        split_seed: seed of the stratified validation split.
        verify_checksums: check torchvision's md5 sums of every file.
        **kwargs: see :class:`~sslkit.data.base.ImageDataModule`.
    """

    reader: type  # the torchvision dataset class
    title: str
    folder: str
    files: tuple[str, ...]

    def __init__(self, root: str, download: bool = False, val_fraction: float = 0.1, split_seed: int = 0,
                 verify_checksums: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        check_held_out(val_fraction)
        self.root = Path(root).expanduser()
        self.download = download
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.verify_checksums = verify_checksums

    def prepare_data(self) -> None:
        """Download on one process per node, only when ``download`` is set."""
        if self.download:
            reader = object.__new__(self._reader())  # torchvision's download() only needs root
            reader.root = str(self.root)
            reader.download()

    def _reader(self) -> type:
        strict, lenient = _READERS[self.reader]
        return strict if self.verify_checksums else lenient

    def check_files(self) -> None:
        """Raise :class:`FileNotFoundError` naming what to put where, unless every file is present."""
        base = self.root / self.folder
        missing = [f for f in self.files if not (base / f).is_file()]
        if not missing:
            return
        archive, url = self.reader.filename, self.reader.url
        raise FileNotFoundError(
            f"{self.title} not found: missing {', '.join(missing)} in {base}.\n"
            f"Expected {base}/ holding: {', '.join(self.files)}.\n"
            f"Fetch the official archive {archive} from {url} and extract it into {self.root} "
            f"(tar -xzf {archive} -C {self.root}), or set data.init_args.download: true to download it."
        )

    def _open(self, **kwargs) -> Dataset:
        if self.download:
            self.prepare_data()
        self.check_files()
        return self._reader()(str(self.root), **kwargs)

    def _train_val(self, data: Dataset, labels: np.ndarray) -> dict[str, tuple[Dataset, np.ndarray]]:
        parts = held_out_splits(labels, self.val_fraction, None, self.split_seed, given=("test",))
        train, val = parts["train"], parts["val"]
        return {"train": (Subset(data, train.tolist()), labels[train]), "val": (Subset(data, val.tolist()), labels[val])}


class CIFAR10DataModule(_TorchvisionDataModule):
    """CIFAR-10: 50,000 training and 10,000 test 32x32 colour images, 10 classes.

    Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009.
    ``root`` holds ``cifar-10-batches-py/`` (the extracted python archive).
    See :class:`_TorchvisionDataModule` for the arguments.
    """

    reader = datasets.CIFAR10
    title = "CIFAR-10"
    folder = "cifar-10-batches-py"
    files = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch", "batches.meta")
    num_classes = 10
    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2470, 0.2435, 0.2616)

    def build_splits(self) -> dict[str, tuple[Dataset, np.ndarray]]:
        train = self._open(train=True)
        test = self._open(train=False)
        out = self._train_val(train, np.asarray(train.targets, dtype=np.int64))
        out["test"] = (test, np.asarray(test.targets, dtype=np.int64))
        return out


class CIFAR100DataModule(CIFAR10DataModule):
    """CIFAR-100: 50,000 training and 10,000 test 32x32 colour images, 100 fine classes.

    Krizhevsky, 2009. ``root`` holds ``cifar-100-python/`` (the extracted python archive).
    """

    reader = datasets.CIFAR100
    title = "CIFAR-100"
    folder = "cifar-100-python"
    files = ("train", "test", "meta")
    num_classes = 100
    mean = (0.5071, 0.4865, 0.4409)
    std = (0.2673, 0.2564, 0.2762)


class STL10DataModule(_TorchvisionDataModule):
    """STL-10: 5,000 labelled training, 100,000 unlabelled and 8,000 test 96x96 images, 10 classes.

    Coates, Lee and Ng, "An Analysis of Single-Layer Networks in Unsupervised
    Feature Learning", AISTATS 2011. ``root`` holds ``stl10_binary/``.
    Pretraining uses ``train`` (minus validation) plus, with ``unlabeled``, the
    100k unlabelled images, which carry label ``-1``; probes, kNN banks and
    label fractions only ever see the labelled ``train`` images.

    Args:
        unlabeled: add the unlabelled split to the pretraining set.
        **kwargs: see :class:`_TorchvisionDataModule`.
    """

    reader = datasets.STL10
    title = "STL-10"
    folder = "stl10_binary"
    files = ("train_X.bin", "train_y.bin", "unlabeled_X.bin", "test_X.bin", "test_y.bin")
    num_classes = 10
    mean = (0.4467, 0.4398, 0.4066)
    std = (0.2603, 0.2566, 0.2713)

    def __init__(self, root: str, unlabeled: bool = True, **kwargs) -> None:
        super().__init__(root, **kwargs)
        self.unlabeled = unlabeled

    def build_splits(self) -> dict[str, tuple[Dataset, np.ndarray]]:
        train = self._open(split="train")
        out = self._train_val(train, np.asarray(train.labels, dtype=np.int64))
        if self.unlabeled:
            extra = self._open(split="unlabeled")
            data, labels = out["train"]
            out["train"] = (ConcatDataset([data, extra]), np.concatenate([labels, np.full(len(extra), -1)]))
        test = self._open(split="test")
        out["test"] = (test, np.asarray(test.labels, dtype=np.int64))
        return out


class _ImageFiles(Dataset):
    """Every image file under a folder (recursively, sorted), each with label ``-1``."""

    def __init__(self, root: Path) -> None:
        self.paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in datasets.folder.IMG_EXTENSIONS)
        self.targets = [-1] * len(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        return datasets.folder.default_loader(str(self.paths[i])), -1


class ImageFolderDataModule(ImageDataModule):
    """Images in a local folder: one subfolder per class, or an unlabelled folder of images.

    Labelled layout (torchvision ``ImageFolder``): ``root/<class_name>/<image>``;
    classes are the sorted subfolder names. With ``labelled: false`` every image
    file under ``root`` is used with label ``-1`` and ``num_classes`` is 0.
    Validation and test come from ``val_root`` / ``test_root`` when given (same
    layout and classes), else from seeded splits of ``root`` (class-stratified
    when labelled) of ``val_fraction`` / ``test_fraction`` of all images.

    Files that cannot be decoded (truncated, corrupt, not images) are handled by
    ``bad_files``: ``stop`` raises :class:`~sslkit.data.readable.UnreadableImageError`
    naming the file; ``replace`` warns with the path and uses the next readable
    image of the same class and split instead (batch shapes stay fixed, so DDP
    processes stay in step), and stops naming the class when none of its files
    in the split is readable. :meth:`unreadable_files` lists the files found so far
    (saved in checkpoints, so a resumed run keeps them flagged and counted);
    :class:`~sslkit.callbacks.UnreadableFilesMonitor` logs their number as
    ``data/unreadable_files``.

    Args:
        root: the training folder.
        labelled: whether ``root`` has one subfolder per class.
        val_root: optional validation folder.
        test_root: optional test folder.
        val_fraction: share held out for validation when there is no ``val_root``.
        test_fraction: share held out for test when there is no ``test_root``.
        split_seed: seed of the held-out splits.
        bad_files: what an unreadable image file does: ``stop`` the run or get ``replace``-d.
        mean: per-channel normalisation mean (default ImageNet's).
        std: per-channel normalisation std (default ImageNet's).
        **kwargs: see :class:`~sslkit.data.base.ImageDataModule`.
    """

    def __init__(self, root: str, labelled: bool = True, val_root: str | None = None, test_root: str | None = None,
                 val_fraction: float = 0.1, test_fraction: float = 0.1, split_seed: int = 0,
                 bad_files: Literal["stop", "replace"] = "stop", mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, **kwargs) -> None:
        super().__init__(**kwargs)
        check_held_out(val_fraction, test_fraction)
        check_policy(bad_files)
        self.bad_files = bad_files
        self.root = Path(root).expanduser()
        self.labelled = labelled
        self.val_root = Path(val_root).expanduser() if val_root else None
        self.test_root = Path(test_root).expanduser() if test_root else None
        self.val_fraction, self.test_fraction, self.split_seed = val_fraction, test_fraction, split_seed
        self.mean, self.std = tuple(mean), tuple(std)
        self.classes: list[str] = self._classes(self.root) if labelled else []
        self.num_classes = len(self.classes)

    def _classes(self, root: Path) -> list[str]:
        layout = "root/<class_name>/<image>.png|jpg" if self.labelled else "root/<image>.png|jpg (any depth)"
        if not root.is_dir():
            raise FileNotFoundError(f"image folder {root} does not exist; expected the layout {layout}")
        classes = sorted(p.name for p in root.iterdir() if p.is_dir())
        if not classes:
            raise FileNotFoundError(f"{root} has no class subfolders; expected {layout}, or set labelled: false")
        return classes

    def _folder(self, root: Path) -> tuple[Dataset, np.ndarray]:
        if not self.labelled:
            if not root.is_dir():
                raise FileNotFoundError(f"image folder {root} does not exist; expected image files under it")
            data = _ImageFiles(root)
            if not len(data):
                raise FileNotFoundError(f"no image files ({', '.join(datasets.folder.IMG_EXTENSIONS)}) under {root}")
            return data, np.full(len(data), -1)
        if root != self.root and self._classes(root) != self.classes:
            raise ValueError(f"class subfolders of {root} differ from those of {self.root}")
        data = datasets.ImageFolder(str(root))
        return data, np.asarray(data.targets, dtype=np.int64)

    def build_splits(self) -> dict[str, tuple[Dataset, np.ndarray]]:
        data, labels = self._folder(self.root)
        given = {name: root for name, root in (("test", self.test_root), ("val", self.val_root)) if root is not None}
        parts = held_out_splits(labels, self.val_fraction, self.test_fraction, self.split_seed, given=tuple(given),
                                sort_rest=True)
        out = {name: self._folder(root) for name, root in given.items()}
        out.update({name: (Subset(data, idx.tolist()), labels[idx]) for name, idx in parts.items()})
        # after the carving, so that a replacement always comes from the same split
        return {name: (ReadableImages(ds, _file_paths(ds), y, self.bad_files, self.classes or None), y)
                for name, (ds, y) in out.items()}

    def _readable(self) -> list[ReadableImages]:
        return [self.splits()[name][0] for name in ("train", "val", "test")]

    def unreadable_flags(self) -> torch.Tensor:
        """A ``uint8`` vector over the files of train, val and test (in that order), 1 where unreadable.

        Same length and order on every process, so processes can combine theirs
        (element-wise max) and pass the result to :meth:`unreadable_files`.
        """
        return torch.cat([ds.flags for ds in self._readable()])

    def unreadable_files(self, flags: torch.Tensor | None = None) -> list[str]:
        """Sorted paths of the files found unreadable so far, over all splits.

        Args:
            flags: a vector like :meth:`unreadable_flags` (e.g. combined over
                processes); default this process's flags.
        """
        flags = self.unreadable_flags() if flags is None else flags
        paths = [p for ds in self._readable() for p in ds.paths]
        return sorted({paths[i] for i in torch.nonzero(flags).flatten().tolist()})


    def state_dict(self) -> dict[str, Any]:
        """The base state plus ``unreadable_files``: files found unreadable so far on any process.

        Under DDP the flags of all processes are combined (all-reduce max; Lightning
        builds the checkpoint state on every process, and rank 0's is saved).
        """
        state = super().state_dict()
        if self.bad_files != "replace":
            return state
        flags = self.unreadable_flags()
        trainer = self.trainer
        if (trainer is not None and getattr(trainer, "world_size", 1) > 1 and torch.distributed.is_available()
                and torch.distributed.is_initialized()):
            flags = flags.to(trainer.strategy.root_device, torch.int32)  # NCCL reduces device tensors only
            torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
        return {**state, "unreadable_files": self.unreadable_files(flags.cpu())}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the base state and flag the saved unreadable files again (they are not re-read)."""
        super().load_state_dict(state_dict)
        saved = set(state_dict.get("unreadable_files", ()))
        if not saved:
            return
        found = 0
        for ds in self._readable():
            for i, path in enumerate(ds.paths):
                if path in saved:
                    ds.flags[i] = 1
                    found += 1
        if found < len(saved):
            warnings.warn(f"{len(saved) - found} of the {len(saved)} unreadable files saved in the checkpoint are not "
                          f"in this dataset (moved or renamed?); they are no longer counted")


def _file_paths(ds: Dataset) -> list[str]:
    """The file behind each item of an ``ImageFolder``, an ``_ImageFiles`` or a ``Subset`` of either."""
    if isinstance(ds, Subset):
        paths = _file_paths(ds.dataset)
        return [paths[i] for i in ds.indices]
    if isinstance(ds, datasets.ImageFolder):
        return [path for path, _ in ds.samples]
    return [str(p) for p in ds.paths]
