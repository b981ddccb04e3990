"""Text data: corpora, the built-in offline text benchmark, token cache, datasets and DataModules.

One job per module:

* :mod:`~sslkit.data.text.sources`: readers (``pydoc_data.topics``, users' corpora and labelled files).
* :mod:`~sslkit.data.text.docstrings`: docstrings of the installed Python, read with :mod:`ast`; the
  ``installed`` unlabelled corpus.
* :mod:`~sslkit.data.text.benchmark`: built-in labelled tasks (``package``, ``kind``, ``section``) and
  domains (``stdlib``, ``scientific``, ``deep_learning``).
* splits: :func:`sslkit.data.subsets.held_out_splits` (the one split rule of every DataModule), through :class:`sslkit.data.contracts.LabelledSplits`.
* :mod:`~sslkit.data.text.tokens`: tokenisation cached on disk.
* :mod:`~sslkit.data.text.datasets` / :mod:`~sslkit.data.text.collate`: labelled texts, MLM blocks,
  NSP pairs and the masking collator.
* :mod:`~sslkit.data.text.classification` / :mod:`~sslkit.data.text.pretrain`: the DataModules.

Batches the methods see:

* :class:`TextPretrainDataModule` train: a dict of ``(B, block_size)`` tensors
  ``input_ids`` (dynamically masked), ``attention_mask``, ``token_type_ids``,
  ``labels`` (original ids at masked positions, ``-100`` elsewhere; with
  ``objective: causal`` unmasked ids and ``labels = input_ids``, ``-100`` at padding), with NSP
  also ``next_sentence_label`` (0 = true next segment, 1 = random).
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

from sslkit.data.text.benchmark import DOCSTRING_PACKAGES, DOMAINS, TASKS, builtin_task, scrub, sections, stdlib_docstrings
from sslkit.data.text.classification import TextClassificationDataModule
from sslkit.data.text.collate import MLMCollate
from sslkit.data.text.datasets import LabelledText, MLMBlocks, NSPPairs, word_offsets
from sslkit.data.text.docstrings import installed_corpus, package_docstrings
from sslkit.data.text.pretrain import MLM_LOADER, TextPretrainDataModule
from sslkit.data.text.sources import default_cache_dir, pydoc_topics, read_documents, read_labelled
from sslkit.data.text.tokens import tokenize_cached

__all__ = [
    "DOCSTRING_PACKAGES", "DOMAINS", "MLM_LOADER", "TASKS", "LabelledText", "MLMBlocks", "MLMCollate", "NSPPairs",
    "TextClassificationDataModule", "TextPretrainDataModule", "builtin_task", "default_cache_dir", "installed_corpus",
    "package_docstrings", "pydoc_topics", "read_documents", "read_labelled", "scrub", "sections", "stdlib_docstrings",
    "tokenize_cached", "word_offsets",
]
