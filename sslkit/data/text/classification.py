"""A labelled text task as a DataModule: a built-in task and domain, or a user's CSV/TSV/JSONL file."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
from torch.utils.data import DataLoader, Dataset

from sslkit.data.resumable import ResumableShuffle, eval_sampler
from sslkit.data.contracts import LabelledSplits
from sslkit.data.subsets import check_fraction, check_held_out, held_out_splits
from sslkit.data.text.benchmark import DOMAINS, TASKS, builtin_task
from sslkit.data.text.datasets import LabelledText
from sslkit.data.text.sources import read_labelled
from sslkit.data.text.tokens import tokenize_cached
from sslkit.utils.hf import load_tokenizer


class TextClassificationDataModule(LabelledSplits, ResumableShuffle, L.LightningDataModule):
    """A labelled text task: ``(inputs, labels)`` batches for probes, kNN, linear eval and fine-tuning.

    The data is ``path``: a ``.csv``/``.tsv``/``.jsonl`` file with ``text_column``
    and ``label_column`` (e.g. an export of IMDB, SST-2 or AG News), split
    class-stratified into train/val/test with ``split_seed``; or a directory
    holding ``train.<ext>`` and optionally ``val``/``validation``/``dev`` and
    ``test`` files (missing ones are carved out of train). Without ``path`` a
    built-in offline task is used (:mod:`sslkit.data.text.benchmark`): ``task``
    (``package``, ``kind``, ``section``) in ``domain`` (``stdlib``, ``scientific``,
    ``deep_learning``); the default is standard-library docstrings labelled by
    their package (8 classes, 1.6k texts). See docs/text.md for sizes and baselines.

    Args:
        path: labelled file or directory; ``None`` for a built-in task.
        task: built-in task (without ``path``).
        domain: built-in domain (without ``path``); also the domain's name in ``sslkit cross-domain``.
        text_column: text field name.
        label_column: label field name (any strings; classes are sorted).
        tokenizer: tokenizer source (``hf:minilm`` or a local directory); must match the backbone's.
        max_length: tokens per text including ``[CLS]``/``[SEP]`` (truncated and padded).
        batch_size: training batch size.
        eval_batch_size: evaluation batch size.
        num_workers: DataLoader workers.
        label_fraction: class-stratified share of training labels used (probes, kNN bank, fine-tuning).
        val_fraction: share held out for validation when no val file exists.
        test_fraction: share held out for test when no test file exists.
        split_seed: seed of the stratified splits.
        seed: seed of the label subset.
        bank_size: cap on the kNN bank.
        max_per_class: cap per class of a built-in task.
        cache_dir: token cache directory.
    """

    def __init__(self, path: str | None = None, task: str = "package", domain: str = "stdlib", text_column: str = "text", label_column: str = "label",
                 tokenizer: str = "hf:minilm", max_length: int = 128, batch_size: int = 32, eval_batch_size: int = 128,
                 num_workers: int = 0, label_fraction: float = 1.0, val_fraction: float = 0.2,
                 test_fraction: float = 0.2, split_seed: int = 0, seed: int = 0, bank_size: int = 20000,
                 max_per_class: int = 200, cache_dir: str | None = None) -> None:
        super().__init__()
        check_fraction(label_fraction)
        check_held_out(val_fraction, test_fraction)
        if max_length < 4 or batch_size < 1 or eval_batch_size < 1:
            raise ValueError("max_length must be >= 4 and batch sizes >= 1")
        if path is None and (task not in TASKS or domain not in DOMAINS):
            raise ValueError(f"unknown built-in text task/domain {task!r}/{domain!r}; tasks: {TASKS}, domains: "
                             f"{tuple(DOMAINS)} (or give path: a labelled .csv/.tsv/.jsonl file)")
        self.path, self.text_column, self.label_column = path, text_column, label_column
        self.task_name, self.domain = task, domain
        self.shift = domain if path is None else Path(path).stem  # the domain's name in cross-domain tables
        self.tokenizer_name, self.max_length = tokenizer, max_length
        self.batch_size, self.eval_batch_size, self.num_workers = batch_size, eval_batch_size, num_workers
        self.label_fraction, self.val_fraction, self.test_fraction = label_fraction, val_fraction, test_fraction
        self.split_seed, self.seed, self.bank_size, self.max_per_class = split_seed, seed, bank_size, max_per_class
        self.cache_dir = cache_dir
        self._task: tuple[dict[str, tuple[list[str], np.ndarray]], list[str]] | None = None
        self._splits: dict[str, LabelledText] | None = None

    # ------------------------------------------------------------------ labelled data
    @property
    def tokenizer(self):
        return load_tokenizer(self.tokenizer_name)

    def task(self) -> tuple[dict[str, tuple[list[str], np.ndarray]], list[str]]:
        """Raw ``{"train"|"val"|"test": (texts, labels)}`` and class names (no tokenisation)."""
        if self._task is not None:
            return self._task
        files: dict[str, tuple[list[str], list[str]]] = {}
        if self.path is None:
            texts, labels, names = builtin_task(self.task_name, self.domain, self.max_per_class, seed=self.split_seed,
                                                cache_dir=self.cache_dir)
            raw = {"train": (texts, [names[i] for i in labels])}
        else:
            p = Path(self.path)
            if p.is_dir():
                for split, stems in (("train", ["train"]), ("val", ["val", "validation", "dev"]), ("test", ["test"])):
                    hits = [f for s in stems for f in sorted(p.glob(f"{s}.*")) if f.suffix in (".csv", ".tsv", ".jsonl")]
                    if hits:
                        files[split] = read_labelled(hits[0], self.text_column, self.label_column)
                if "train" not in files:
                    raise FileNotFoundError(f"{p} has no train.csv/.tsv/.jsonl")
            else:
                files["train"] = read_labelled(p, self.text_column, self.label_column)
            raw = files
            names = sorted({y for _, ys in raw.values() for y in ys})
        to_id = {n: i for i, n in enumerate(names)}
        parts = {k: (t, np.asarray([to_id[y] for y in ys], dtype=np.int64)) for k, (t, ys) in raw.items()}
        texts, labels = parts["train"]
        out = held_out_splits(labels, self.val_fraction, self.test_fraction, self.split_seed, given=tuple(parts))
        for k, idx in out.items():
            parts[k] = ([texts[i] for i in idx], labels[idx])
        self._task = (parts, names)
        return self._task

    @property
    def num_classes(self) -> int:
        """Classes of the labelled task."""
        return len(self.task()[1])

    @property
    def class_names(self) -> list[str]:
        return self.task()[1]

    def splits(self) -> dict[str, LabelledText]:
        """Tokenised labelled splits (cached on disk)."""
        if self._splits is None:
            tok = self.tokenizer
            self._splits = {k: LabelledText(tokenize_cached(t, self.tokenizer_name, self.cache_dir), y, tok.cls_token_id,
                                            tok.sep_token_id, tok.pad_token_id, self.max_length)
                            for k, (t, y) in self.task()[0].items()}
        return self._splits

    # the labelled-data contract (sslkit.data.contracts.LabelledSplits) from its two hooks
    def train_labels(self) -> np.ndarray:
        """Labels of the whole training split."""
        return self.splits()["train"].labels

    def clean_split(self, split: str) -> Dataset:
        """Tokenised ``(inputs, label)`` items of the whole ``split``."""
        return self.splits()[split]

    # ------------------------------------------------------------------ loaders
    def _loader(self, ds: Dataset, batch_size: int, train: bool = False, collate_fn=None) -> DataLoader:
        if train:  # shuffle order = f(seed, epoch); resumes exactly mid-epoch, under DDP too
            return self.resumable_loader(ds, batch_size, drop_last=True, num_workers=self.num_workers,
                                         collate_fn=collate_fn, persistent_workers=self.num_workers > 0)
        return DataLoader(ds, batch_size=batch_size, num_workers=self.num_workers, sampler=eval_sampler(ds, self.trainer),
                          collate_fn=collate_fn, persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        ds = self.labelled_dataset("train")
        return self._loader(ds, min(self.batch_size, len(ds)), train=True)

    def val_dataloader(self) -> list[DataLoader]:
        return [self._loader(self.bank_dataset(), self.eval_batch_size),
                self._loader(self.labelled_dataset("val"), self.eval_batch_size)]

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.labelled_dataset("test"), self.eval_batch_size)


