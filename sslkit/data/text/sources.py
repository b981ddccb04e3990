"""Readers of raw text: CPython's help topics, users' corpora and users' labelled files."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from sslkit.data.checks import check_label_cells, read_utf8_text


def default_cache_dir() -> Path:
    """Where token and docstring caches live: ``$SSLKIT_CACHE/text`` or ``~/.cache/sslkit/text``."""
    return Path(os.environ.get("SSLKIT_CACHE", Path.home() / ".cache" / "sslkit")) / "text"


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
