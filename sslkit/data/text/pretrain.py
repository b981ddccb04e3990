"""Masked-LM (+ NSP) or causal-LM pretraining on a text corpus, with a labelled task for evaluation."""

from __future__ import annotations

from typing import Literal

import numpy as np
from torch.utils.data import DataLoader, Dataset

from sslkit.data.text.classification import TextClassificationDataModule
from sslkit.data.text.collate import MLMCollate
from sslkit.data.text.datasets import MLMBlocks, NSPPairs
from sslkit.data.text.docstrings import installed_corpus, package_docstrings
from sslkit.data.text.benchmark import DOMAINS
from sslkit.data.text.sources import pydoc_topics, read_documents
from sslkit.data.text.tokens import tokenize_cached

MLM_LOADER = 2  # after BANK_LOADER (0) and VAL_LOADER (1)


class TextPretrainDataModule(TextClassificationDataModule):
    """Masked-LM (+ NSP) or causal-LM pretraining on a text corpus, with a labelled task for probes.

    The corpus is ``corpus``: a file or directory (see :func:`read_documents`),
    ``installed`` (all unlabelled text of the machine: the help topics plus every
    docstring of the standard library and the installed scientific and deep-learning
    packages, :func:`installed_corpus`, ~30 MB), ``domain:<names>`` (the docstrings
    of benchmark domains, e.g. ``domain:scientific`` or ``domain:stdlib,scientific``, for
    domain-adaptive pretraining) or, by default, CPython's ``pydoc_data.topics`` (:func:`pydoc_topics`:
    the Language Reference, 79 documents, ~110k MiniLM tokens). Documents are tokenised once
    (cached), then a seeded ``corpus_val_fraction`` of the *documents* is held
    out (no text shared between train and val blocks) and each side is cut into
    ``block_size`` blocks (:class:`MLMBlocks`) or NSP pairs (:class:`NSPPairs`).
    Training blocks are masked anew every batch; validation blocks once, with ``seed``.
    With ``objective: causal`` blocks are not masked: ``labels`` equal ``input_ids``
    (``-100`` at padding) for next-token prediction (the model shifts them).
    The labelled task (``path`` and the rest, see :class:`TextClassificationDataModule`)
    feeds the probe, kNN and summary callbacks exactly as for images.

    Args:
        corpus: corpus file or directory, ``installed``, ``domain:<names>``, or ``None`` for ``pydoc_data.topics``.
        text_field: field of ``.jsonl`` corpora.
        block_size: tokens per training block, special tokens included.
        corpus_val_fraction: share of corpus tokens (whole documents) held out.
        max_val_blocks: cap on validation blocks.
        mlm_probability: share of tokens selected for prediction (BERT: 0.15).
        mask_replace_prob: selected tokens replaced by ``[MASK]`` (BERT: 0.8).
        random_replace_prob: selected tokens replaced by a random token (BERT: 0.1).
        whole_word_mask: select whole words rather than word pieces.
        nsp: emit next-sentence-prediction pairs with ``next_sentence_label``.
        objective: ``"mlm"`` (masked blocks) or ``"causal"`` (unmasked blocks for next-token prediction;
            the masking options are then unused).
        **kwargs: the labelled task, see :class:`TextClassificationDataModule`.
    """

    def __init__(self, corpus: str | None = None, text_field: str = "text", block_size: int = 128,
                 corpus_val_fraction: float = 0.1, max_val_blocks: int = 512, mlm_probability: float = 0.15,
                 mask_replace_prob: float = 0.8, random_replace_prob: float = 0.1, whole_word_mask: bool = False,
                 nsp: bool = False, objective: Literal["mlm", "causal"] = "mlm",
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
        if corpus and corpus.startswith("domain:") and not set(corpus[7:].split(",")) <= set(DOMAINS):
            raise ValueError(f"unknown corpus {corpus!r}; use domain:<names> with comma-separated names from "
                             f"{tuple(DOMAINS)}, e.g. domain:scientific")
        self.objective, self.nsp = objective, nsp
        self._corpus: dict[str, Dataset] | None = None

    def documents(self) -> list[str]:
        """The corpus documents (see ``corpus``)."""
        if self.corpus is None:
            return pydoc_topics()
        if self.corpus == "installed":
            return installed_corpus(cache_dir=self.cache_dir)
        if self.corpus.startswith("domain:"):
            packages = [p for d in self.corpus[7:].split(",") for p in DOMAINS[d]]
            docs = (r["doc"] for p in packages for r in package_docstrings(p, self.cache_dir))
            return list(dict.fromkeys(d for d in docs if len(d.split()) >= 5))
        return read_documents(self.corpus, self.text_field)

    def corpus_splits(self) -> dict[str, Dataset]:
        """``{"train": blocks or NSP pairs, "val": MLM blocks}`` of the corpus."""
        if self._corpus is None:
            docs = self.documents()
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
        collate = MLMCollate(self.tokenizer, **self.mask_args)
        return self._loader(self.corpus_splits()["train"], self.batch_size, train=True, collate_fn=collate)

    def val_dataloader(self) -> list[DataLoader]:
        return [*super().val_dataloader(), self._loader(self.corpus_splits()["val"], self.eval_batch_size)]

