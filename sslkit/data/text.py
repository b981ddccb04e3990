"""Text DataModules: masked-LM pretraining corpora and text classification tasks.

Batches the methods see:

* :class:`TextPretrainDataModule` train: a dict of ``(B, block_size)`` tensors
  ``input_ids`` (dynamically masked), ``attention_mask``, ``token_type_ids``,
  ``labels`` (original ids at masked positions, ``-100`` elsewhere; with
  ``objective: causal`` unmasked ids and ``labels = input_ids``, ``-100`` at padding), with NSP
  also ``next_sentence_label`` (0 = true next segment, 1 = random), and, when
  ``probe_batch_size > 0``, ``probe_input_ids``, ``probe_attention_mask``,
  ``probe_labels``: a random batch of the labelled task's training subset for
  the online probe (the corpus itself is unlabelled).
* validation: ``[bank, val, mlm]`` loaders (indices ``sslkit.data.BANK_LOADER``,
  ``VAL_LOADER`` and :data:`MLM_LOADER`): labelled task train subset and val
  split as ``(inputs, labels)`` (``inputs`` a dict of ``input_ids`` and
  ``attention_mask`` padded to ``max_length``), then corpus validation blocks
  masked once with a fixed seed (a dict with ``labels``, like training).
* test: the labelled task's test split, ``(inputs, labels)``.

Tokenisation happens once per corpus and tokenizer and is cached on disk
(``cache_dir``, default ``$SSLKIT_CACHE`` or ``~/.cache/sslkit``) under a key
hashing the tokenizer files and the text.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import os
import sys
import sysconfig
from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from sslkit.data.checks import check_label_cells, read_utf8_text
from sslkit.data.resumable import ResumableShuffle, eval_sampler
from sslkit.data.subsets import check_fraction, stratified_subset
from sslkit.utils.hf import load_tokenizer, tokenizer_fingerprint

MLM_LOADER = 2  # after BANK_LOADER (0) and VAL_LOADER (1)
#: default labelled task: standard-library packages whose docstrings are classified
DOCSTRING_PACKAGES = ("asyncio", "email", "http", "importlib", "logging", "multiprocessing", "unittest", "xml")


# ---------------------------------------------------------------------------- sources
def pydoc_topics() -> list[str]:
    """CPython's ``pydoc_data.topics``: the Python Language Reference sections behind ``help("topic")``.

    79 documents (statements, operators, data model, ...; about 465k characters
    on CPython 3.11) of real English technical prose, shipped with every CPython,
    so the default corpus is offline. Sorted by topic name.
    """
    from pydoc_data.topics import topics

    return [topics[k] for k in sorted(topics)]


def read_documents(path: str | os.PathLike, text_field: str = "text") -> list[str]:
    """Documents of a corpus: ``.txt`` files (documents separated by blank lines), ``.jsonl``
    files (one document per line, field ``text_field``) or a directory of them (sorted)."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.suffix in (".txt", ".jsonl")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise FileNotFoundError(f"no .txt or .jsonl corpus at {path}")
    docs: list[str] = []
    for f in files:
        text = read_utf8_text(f)  # non-empty UTF-8, or an error naming the file
        if f.suffix == ".jsonl":
            docs += [json.loads(line)[text_field] for line in text.splitlines() if line.strip()]
        else:
            docs += [d.strip() for d in text.split("\n\n") if d.strip()]
    return docs


def stdlib_docstrings(packages: tuple[str, ...] = DOCSTRING_PACKAGES, max_per_class: int = 200, min_words: int = 5,
                      seed: int = 0, cache_dir: str | os.PathLike | None = None) -> tuple[list[str], np.ndarray, list[str]]:
    """Docstrings of standard-library packages, labelled by package: the default offline text task.

    Module, class and function docstrings are read from the installed CPython's
    source files with :mod:`ast` (nothing is imported), test files skipped,
    duplicates and docstrings under ``min_words`` words dropped, then at most
    ``max_per_class`` kept per package (seeded). On CPython 3.11 the 8 default
    packages give 137-300 docstrings each before the cap, 1,537 texts with the
    default cap of 200. The exact texts depend on the Python version; the
    extraction is cached in ``cache_dir`` per interpreter version.

    Returns:
        ``(texts, labels, class_names)``.
    """
    key = hashlib.sha256(repr((sys.version, packages, max_per_class, min_words, seed)).encode()).hexdigest()[:16]
    cached = Path(cache_dir or default_cache_dir()) / f"docstrings-{key}.json"
    if cached.is_file():
        texts, labels = json.loads(cached.read_text())
        return texts, np.asarray(labels, dtype=np.int64), list(packages)
    root, rng = Path(sysconfig.get_paths()["stdlib"]), np.random.default_rng(seed)
    texts: list[str] = []
    labels: list[int] = []
    for c, package in enumerate(packages):
        found: dict[str, None] = {}
        for f in sorted((root / package).rglob("*.py")):
            if any(part.startswith("test") for part in f.relative_to(root).parts):
                continue
            for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    doc = ast.get_docstring(node)
                    if doc and len(doc.split()) >= min_words:
                        found[" ".join(doc.split())] = None
        if len(found) < 2:
            raise ValueError(f"standard-library package {package!r} has too few docstrings")
        docs = list(found)
        keep = np.sort(rng.permutation(len(docs))[:max_per_class])
        texts += [docs[i] for i in keep]
        labels += [c] * len(keep)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps([texts, labels]))
    return texts, np.asarray(labels, dtype=np.int64), list(packages)


def read_labelled(path: str | os.PathLike, text_column: str = "text",
                  label_column: str = "label") -> tuple[list[str], list[str]]:
    """Texts and raw labels of a ``.csv``/``.tsv`` (header row) or ``.jsonl`` file."""
    path = Path(path)
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    elif path.suffix in (".csv", ".tsv"):
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t" if path.suffix == ".tsv" else ","))
    else:
        raise ValueError(f"labelled text must be .csv, .tsv or .jsonl, got {path}")
    if rows and (text_column not in rows[0] or label_column not in rows[0]):
        raise KeyError(f"{path} needs columns {text_column!r} and {label_column!r}; it has {sorted(rows[0])}")
    labels = [str(r[label_column]) for r in rows]
    check_label_cells(path, labels)
    return [str(r[text_column]) for r in rows], labels


# ---------------------------------------------------------------------------- tokenisation cache
def default_cache_dir() -> Path:
    return Path(os.environ.get("SSLKIT_CACHE", Path.home() / ".cache" / "sslkit")) / "text"


def tokenize_cached(texts: list[str], tokenizer: str, cache_dir: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Tokenise ``texts`` without special tokens, once: cached on disk by tokenizer and text hash.

    Returns:
        ``{"ids": int32 tokens of all texts, "word_start": bool (token starts a word),
        "offsets": int64 (len(texts) + 1,) text boundaries into ids}``.
    """
    h = hashlib.sha256(tokenizer_fingerprint(tokenizer).encode())
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    path = Path(cache_dir or default_cache_dir()) / f"tokens-{h.hexdigest()[:24]}.npz"
    if path.is_file():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    tok, ids, starts, offsets = load_tokenizer(tokenizer), [], [], [0]
    for i in range(0, len(texts), 1000):
        enc = tok(texts[i:i + 1000], add_special_tokens=False, return_attention_mask=False, verbose=False)
        for j, seq in enumerate(enc["input_ids"]):
            w = enc.word_ids(j)
            ids.append(np.asarray(seq, dtype=np.int32))
            starts.append(np.asarray([k == 0 or w[k] != w[k - 1] for k in range(len(w))], dtype=bool))
            offsets.append(offsets[-1] + len(seq))
    out = {"ids": np.concatenate(ids) if ids else np.zeros(0, np.int32),
           "word_start": np.concatenate(starts) if starts else np.zeros(0, bool), "offsets": np.asarray(offsets)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **out)
    os.replace(tmp, path)
    return out


# ---------------------------------------------------------------------------- datasets
class LabelledText(Dataset):
    """``({"input_ids", "attention_mask"}, label)`` items, ``[CLS] text [SEP]`` truncated and padded to ``max_length``."""

    def __init__(self, tokens: dict[str, np.ndarray], labels: np.ndarray, cls_id: int, sep_id: int, pad_id: int,
                 max_length: int) -> None:
        self.tokens, self.labels = tokens, labels
        self.cls_id, self.sep_id, self.pad_id, self.max_length = cls_id, sep_id, pad_id, max_length

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[dict[str, torch.Tensor], int]:
        a, b = self.tokens["offsets"][i], self.tokens["offsets"][i + 1]
        body = self.tokens["ids"][a:min(b, a + self.max_length - 2)].tolist()
        seq = [self.cls_id, *body, self.sep_id]
        ids = torch.full((self.max_length,), self.pad_id, dtype=torch.long)
        ids[: len(seq)] = torch.tensor(seq)
        mask = torch.zeros(self.max_length, dtype=torch.long)
        mask[: len(seq)] = 1
        return {"input_ids": ids, "attention_mask": mask}, int(self.labels[i])


def _word_offsets(word_start: np.ndarray, special: np.ndarray) -> np.ndarray:
    """Character-like offsets that tell ``DataCollatorForLanguageModeling`` where words start
    (a gap before each word start, contiguous spans inside a word; ``(0, 0)`` on special tokens)."""
    new = word_start.astype(np.int64)
    start = np.cumsum(new + 1) - 1  # +1 per token, +1 more before each word start
    out = np.stack([start, start + 1], axis=-1)
    out[special] = 0
    return out


class MLMBlocks(Dataset):
    """Fixed-length ``[CLS] tokens [SEP]`` blocks cut from the concatenated documents (the tail is dropped)."""

    def __init__(self, tokens: dict[str, np.ndarray], docs: np.ndarray, block_size: int, cls_id: int, sep_id: int) -> None:
        if block_size < 8:
            raise ValueError(f"block_size must be >= 8, got {block_size}")
        spans = [(tokens["offsets"][d], tokens["offsets"][d + 1]) for d in docs]
        self.ids = np.concatenate([tokens["ids"][a:b] for a, b in spans] or [np.zeros(0, np.int32)])
        self.word_start = np.concatenate([tokens["word_start"][a:b] for a, b in spans] or [np.zeros(0, bool)])
        self.body, self.cls_id, self.sep_id = block_size - 2, cls_id, sep_id

    def __len__(self) -> int:
        return len(self.ids) // self.body

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        sl = slice(i * self.body, (i + 1) * self.body)
        ids = np.concatenate([[self.cls_id], self.ids[sl], [self.sep_id]]).astype(np.int64)
        starts = np.concatenate([[False], self.word_start[sl], [False]])
        special = np.zeros(len(ids), dtype=bool)
        special[[0, -1]] = True
        return {"input_ids": ids, "token_type_ids": np.zeros_like(ids), "special_tokens_mask": special,
                "word_start": starts}


class NSPPairs(Dataset):
    """BERT's next-sentence-prediction pairs ``[CLS] A [SEP] B [SEP]`` (Devlin et al., 2019, arXiv:1810.04805).

    Each document is cut into segments of ``(block_size - 3) // 2`` tokens. Item
    ``i`` takes segment ``A`` = the i-th segment that has a successor in its
    document; with probability 1/2 ``B`` is that successor (label 0), otherwise
    a random segment of another document (label 1). Pairs are redrawn on every
    access (torch's RNG, seeded per DataLoader worker). Pairs are padded to
    ``block_size``.
    """

    def __init__(self, tokens: dict[str, np.ndarray], docs: np.ndarray, block_size: int, cls_id: int, sep_id: int,
                 pad_id: int) -> None:
        seg = (block_size - 3) // 2
        if seg < 2 or len(docs) < 2:
            raise ValueError("NSP needs block_size >= 7 and at least two documents")
        self.segments: list[tuple[int, int]] = []  # (start, end) into tokens["ids"]
        self.doc_of: list[int] = []
        for d in docs:
            a, b = int(tokens["offsets"][d]), int(tokens["offsets"][d + 1])
            for s in range(a, b, seg):
                self.segments.append((s, min(s + seg, b)))
                self.doc_of.append(int(d))
        self.doc_of_arr = np.asarray(self.doc_of)
        self.first = [k for k in range(len(self.segments) - 1) if self.doc_of[k] == self.doc_of[k + 1]]
        if not self.first:
            raise ValueError("NSP needs documents with at least two segments")
        self.tokens, self.block_size = tokens, block_size
        self.cls_id, self.sep_id, self.pad_id = cls_id, sep_id, pad_id

    def __len__(self) -> int:
        return len(self.first)

    def pair(self, i: int, is_random: bool) -> tuple[int, int]:
        """Segment indices ``(A, B)`` of item ``i``: ``B`` follows ``A`` unless ``is_random``."""
        a = self.first[i]
        if not is_random:
            return a, a + 1
        others = np.flatnonzero(self.doc_of_arr != self.doc_of[a])
        return a, int(others[torch.randint(len(others), ()).item()])

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        is_random = bool(torch.rand(()) < 0.5)
        a, b = self.pair(i, is_random)
        ids, ws = self.tokens["ids"], self.tokens["word_start"]
        (sa, ea), (sb, eb) = self.segments[a], self.segments[b]
        body = [np.asarray([self.cls_id]), ids[sa:ea], np.asarray([self.sep_id]), ids[sb:eb], np.asarray([self.sep_id])]
        seq = np.concatenate(body).astype(np.int64)
        n, pad = len(seq), self.block_size - len(seq)
        special = np.zeros(self.block_size, dtype=bool)
        special[[0, 1 + ea - sa]] = True
        special[n - 1:] = True
        starts = np.concatenate([[False], ws[sa:ea], [False], ws[sb:eb], [False], np.zeros(pad, bool)])
        types = np.concatenate([np.zeros(2 + ea - sa, np.int64), np.ones(self.block_size - 2 - ea + sa, np.int64)])
        types[n:] = 0
        return {"input_ids": np.concatenate([seq, np.full(pad, self.pad_id, np.int64)]), "token_type_ids": types,
                "special_tokens_mask": special, "word_start": starts, "next_sentence_label": np.int64(is_random)}


class MLMCollate:
    """Stack fixed-length blocks and mask them dynamically with ``transformers``'
    :class:`~transformers.DataCollatorForLanguageModeling` (BERT's 80/10/10 rule;
    special and padding tokens are never masked; optional whole-word masking).
    With ``mlm=False`` (causal language modelling) nothing is masked: ``labels``
    are the input ids with ``-100`` at padding (the model shifts them by one).
    Optionally appends a random labelled batch for the online probe.

    Args:
        tokenizer: the data's tokenizer (mask id, vocabulary size).
        mlm_probability: share of (non-special) tokens selected for prediction.
        mask_replace_prob: share of selected tokens replaced by ``[MASK]``.
        random_replace_prob: share of selected tokens replaced by a random token.
        whole_word_mask: select whole words (``transformers`` then uses ``[MASK]`` only).
        probe: labelled dataset sampled for ``probe_*`` keys.
        probe_batch_size: labelled items per batch (0: none).
        seed: seed of the masking generator (``None``: torch's global RNG).
        mlm: mask for masked-LM (``True``) or emit unmasked causal-LM blocks (``False``).
    """

    def __init__(self, tokenizer, mlm_probability: float = 0.15, mask_replace_prob: float = 0.8,
                 random_replace_prob: float = 0.1, whole_word_mask: bool = False, probe: Dataset | None = None,
                 probe_batch_size: int = 0, seed: int | None = None, mlm: bool = True) -> None:
        import warnings

        from transformers import DataCollatorForLanguageModeling

        self.pad_id = tokenizer.pad_token_id
        self.probe, self.probe_batch_size = probe, probe_batch_size
        self.collator = None
        if not mlm:
            return
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Random token replacement is not supported.*")
            self.collator = DataCollatorForLanguageModeling(
                tokenizer, mlm=True, whole_word_mask=whole_word_mask, mlm_probability=mlm_probability,
                mask_replace_prob=mask_replace_prob, random_replace_prob=random_replace_prob, seed=seed)

    def __call__(self, items: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
        stack = {k: torch.from_numpy(np.stack([it[k] for it in items])) for k in items[0]}
        special = stack.pop("special_tokens_mask")
        word_start = stack.pop("word_start")
        batch = dict(stack)
        batch["attention_mask"] = (stack["input_ids"] != self.pad_id).long()
        if self.collator is None:  # causal LM: labels = inputs, padding ignored
            batch["labels"] = stack["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        else:
            offsets = None
            if self.collator.whole_word_mask:
                offsets = torch.from_numpy(np.stack([_word_offsets(w, s) for w, s in zip(word_start.numpy(),
                                                                                          special.numpy())]))
            batch["input_ids"], batch["labels"] = self.collator.torch_mask_tokens(
                stack["input_ids"].clone(), special_tokens_mask=special.long(), offset_mapping=offsets)
        if self.probe is not None and self.probe_batch_size > 0:
            idx = torch.randint(len(self.probe), (self.probe_batch_size,)).tolist()
            x, y = torch.utils.data.default_collate([self.probe[i] for i in idx])
            batch.update(probe_input_ids=x["input_ids"], probe_attention_mask=x["attention_mask"], probe_labels=y)
        return batch


# ---------------------------------------------------------------------------- DataModules
class TextClassificationDataModule(ResumableShuffle, L.LightningDataModule):
    """A labelled text task: ``(inputs, labels)`` batches for probes, kNN, linear eval and fine-tuning.

    The data is ``path``: a ``.csv``/``.tsv``/``.jsonl`` file with ``text_column``
    and ``label_column`` (e.g. an export of IMDB, SST-2 or AG News), split
    class-stratified into train/val/test with ``split_seed``; or a directory
    holding ``train.<ext>`` and optionally ``val``/``validation``/``dev`` and
    ``test`` files (missing ones are carved out of train). Without ``path`` the
    embedded default is used: standard-library docstrings labelled by their
    package (:func:`stdlib_docstrings`, 8 classes, about 1.5k texts, offline).

    Args:
        path: labelled file or directory; ``None`` for the docstring task.
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
        max_per_class: cap per class of the docstring task.
        cache_dir: token cache directory.
    """

    def __init__(self, path: str | None = None, text_column: str = "text", label_column: str = "label",
                 tokenizer: str = "hf:minilm", max_length: int = 128, batch_size: int = 32, eval_batch_size: int = 128,
                 num_workers: int = 0, label_fraction: float = 1.0, val_fraction: float = 0.2,
                 test_fraction: float = 0.2, split_seed: int = 0, seed: int = 0, bank_size: int = 20000,
                 max_per_class: int = 200, cache_dir: str | None = None) -> None:
        super().__init__()
        check_fraction(label_fraction)
        if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
            raise ValueError("val_fraction and test_fraction must be in (0, 1) and sum to less than 1")
        if max_length < 4 or batch_size < 1 or eval_batch_size < 1:
            raise ValueError("max_length must be >= 4 and batch sizes >= 1")
        self.path, self.text_column, self.label_column = path, text_column, label_column
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

    def _split(self, labels: np.ndarray, idx: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.model_selection import train_test_split

        return train_test_split(idx, test_size=share, stratify=labels[idx], random_state=self.split_seed)

    def task(self) -> tuple[dict[str, tuple[list[str], np.ndarray]], list[str]]:
        """Raw ``{"train"|"val"|"test": (texts, labels)}`` and class names (no tokenisation)."""
        if self._task is not None:
            return self._task
        files: dict[str, tuple[list[str], list[str]]] = {}
        if self.path is None:
            texts, labels, names = stdlib_docstrings(max_per_class=self.max_per_class, seed=self.split_seed,
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
        rest = np.arange(len(labels))
        out: dict[str, np.ndarray] = {}
        if "test" not in parts:
            rest, out["test"] = self._split(labels, rest, self.test_fraction)
        if "val" not in parts:
            rest, out["val"] = self._split(labels, rest, self.val_fraction / (1 - (self.test_fraction if "test" in out else 0)))
        out["train"] = rest
        for k, idx in out.items():
            idx = np.sort(idx)
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

    def labelled_indices(self, fraction: float | None = None, seed: int | None = None) -> np.ndarray:
        labels = self.splits()["train"].labels
        return stratified_subset(labels, fraction or self.label_fraction, self.seed if seed is None else seed)

    def labelled_dataset(self, split: str, fraction: float | None = None, seed: int | None = None) -> Dataset:
        """``(inputs, label)`` items of a split; for ``train`` the stratified labelled subset."""
        ds = self.splits()[split]
        return Subset(ds, self.labelled_indices(fraction, seed).tolist()) if split == "train" else ds

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

    def _bank(self) -> Dataset:
        bank = self.labelled_dataset("train")
        if len(bank) > self.bank_size:
            keep = np.random.default_rng(self.seed).choice(len(bank), self.bank_size, replace=False)
            bank = Subset(bank, np.sort(keep).tolist())
        return bank

    def val_dataloader(self) -> list[DataLoader]:
        return [self._loader(self._bank(), self.eval_batch_size),
                self._loader(self.labelled_dataset("val"), self.eval_batch_size)]

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.labelled_dataset("test"), self.eval_batch_size)


class TextPretrainDataModule(TextClassificationDataModule):
    """Masked-LM (+ NSP) or causal-LM pretraining on a text corpus, with a labelled task for probes.

    The corpus is ``corpus`` (see :func:`read_documents`) or, by default,
    CPython's ``pydoc_data.topics`` (:func:`pydoc_topics`: the Language
    Reference, 79 documents, ~110k MiniLM tokens). Documents are tokenised once
    (cached), then a seeded ``corpus_val_fraction`` of the *documents* is held
    out (no text shared between train and val blocks) and each side is cut into
    ``block_size`` blocks (:class:`MLMBlocks`) or NSP pairs (:class:`NSPPairs`).
    Training blocks are masked anew every batch; validation blocks once, with ``seed``.
    With ``objective: causal`` blocks are not masked: ``labels`` equal ``input_ids``
    (``-100`` at padding) for next-token prediction (the model shifts them).
    The labelled task (``path`` and the rest, see :class:`TextClassificationDataModule`)
    feeds the probe, kNN and summary callbacks exactly as for images.

    Args:
        corpus: corpus file or directory; ``None`` for ``pydoc_data.topics``.
        text_field: field of ``.jsonl`` corpora.
        block_size: tokens per training block, special tokens included.
        corpus_val_fraction: share of corpus tokens (whole documents) held out.
        max_val_blocks: cap on validation blocks.
        mlm_probability: share of tokens selected for prediction (BERT: 0.15).
        mask_replace_prob: selected tokens replaced by ``[MASK]`` (BERT: 0.8).
        random_replace_prob: selected tokens replaced by a random token (BERT: 0.1).
        whole_word_mask: select whole words rather than word pieces.
        nsp: emit next-sentence-prediction pairs with ``next_sentence_label``.
        probe_batch_size: labelled examples added to each training batch for the online probe (0: none).
        objective: ``"mlm"`` (masked blocks) or ``"causal"`` (unmasked blocks for next-token prediction;
            the masking options are then unused).
        **kwargs: the labelled task, see :class:`TextClassificationDataModule`.
    """

    def __init__(self, corpus: str | None = None, text_field: str = "text", block_size: int = 128,
                 corpus_val_fraction: float = 0.1, max_val_blocks: int = 512, mlm_probability: float = 0.15,
                 mask_replace_prob: float = 0.8, random_replace_prob: float = 0.1, whole_word_mask: bool = False,
                 nsp: bool = False, probe_batch_size: int = 32, objective: Literal["mlm", "causal"] = "mlm",
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0 < corpus_val_fraction < 1:
            raise ValueError("corpus_val_fraction must be in (0, 1)")
        if objective not in ("mlm", "causal") or (objective == "causal" and nsp):
            raise ValueError(f"objective must be 'mlm' or 'causal' (without nsp), got {objective!r} with nsp={nsp}")
        self.corpus, self.text_field, self.block_size = corpus, text_field, block_size
        self.corpus_val_fraction, self.max_val_blocks = corpus_val_fraction, max_val_blocks
        self.mask_args = dict(mlm_probability=mlm_probability, mask_replace_prob=mask_replace_prob,
                              random_replace_prob=random_replace_prob, whole_word_mask=whole_word_mask,
                              mlm=objective == "mlm")
        self.objective, self.nsp, self.probe_batch_size = objective, nsp, probe_batch_size
        self._corpus: dict[str, Dataset] | None = None

    def corpus_splits(self) -> dict[str, Dataset]:
        """``{"train": blocks or NSP pairs, "val": MLM blocks}`` of the corpus."""
        if self._corpus is None:
            docs = pydoc_topics() if self.corpus is None else read_documents(self.corpus, self.text_field)
            tokens = tokenize_cached(docs, self.tokenizer_name, self.cache_dir)
            lengths = np.diff(tokens["offsets"])
            order = np.random.default_rng(self.split_seed).permutation(len(docs))
            n_val = max(1, int(np.searchsorted(np.cumsum(lengths[order]), self.corpus_val_fraction * lengths.sum())))
            val_docs, train_docs = np.sort(order[:n_val]), np.sort(order[n_val:])
            tok = self.tokenizer
            ids = dict(cls_id=tok.cls_token_id, sep_id=tok.sep_token_id)
            train = (NSPPairs(tokens, train_docs, self.block_size, pad_id=tok.pad_token_id, **ids) if self.nsp
                     else MLMBlocks(tokens, train_docs, self.block_size, **ids))
            val = MLMBlocks(tokens, val_docs, self.block_size, **ids)
            if len(val) == 0:
                raise ValueError("the corpus validation split holds no full block; raise corpus_val_fraction")
            collate = MLMCollate(tok, seed=self.seed, **self.mask_args)
            keep = range(min(len(val), self.max_val_blocks))
            masked = collate([val[i] for i in keep])  # masked once (mlm): the same targets every validation
            masked.pop("token_type_ids")
            self._corpus = {"train": train, "val": [{k: v[i] for k, v in masked.items()} for i in keep]}
        return self._corpus

    def setup(self, stage: str | None = None) -> None:
        n = len(self.corpus_splits()["train"])
        if n < self.batch_size:
            raise ValueError(f"batch_size={self.batch_size} exceeds the {n} training blocks; lower data.init_args.batch_size")

    def train_dataloader(self) -> DataLoader:
        probe = self.labelled_dataset("train") if self.probe_batch_size > 0 else None
        collate = MLMCollate(self.tokenizer, probe=probe, probe_batch_size=self.probe_batch_size, **self.mask_args)
        return self._loader(self.corpus_splits()["train"], self.batch_size, train=True, collate_fn=collate)

    def val_dataloader(self) -> list[DataLoader]:
        return [*super().val_dataloader(), self._loader(self.corpus_splits()["val"], self.eval_batch_size)]

