"""The built-in text benchmark: docstring extraction, scrubbing, tasks, domains, corpora and the sweep commands."""

from __future__ import annotations

import ast
import re

import numpy as np
import pytest

from sslkit.data.text import (DOMAINS, TextClassificationDataModule, TextPretrainDataModule, benchmark, builtin_task,
                              docstrings, scrub, sections)

NUMPY_DOC = '''Sum of array elements.

Parameters
----------
a : array_like
    Elements to sum.

Returns
-------
sum_along_axis : ndarray
    An array with the same shape as `a`.

Examples
--------
>>> np.sum([0.5, 1.5])
2.0
'''
GOOGLE_DOC = """Apply a layer.

Args:
    x (Tensor): the input batch.
    scale: multiplier.

Raises:
    ValueError: if x is empty.

Returns:
    The scaled output tensor.
"""


@pytest.fixture(autouse=True)
def small_scientific(monkeypatch):
    """The scientific domain reduced to numpy (its docstrings alone take seconds to read, scipy's a minute)."""
    monkeypatch.setitem(DOMAINS, "scientific", ("numpy",))


def test_scrub_removes_label_words_and_dotted_paths_whole():
    assert scrub("See asyncio.events.Loop and the Asyncio loop; myasyncio_x stays? no", ["asyncio"]) == \
        "See and the loop; stays? no"
    assert scrub("This class wraps a function; Classes and methods.", [benchmark._LABEL_WORDS["kind"]]) == \
        "This wraps a ; and"  # a trailing dot goes with the word (dotted paths)
    assert scrub("a  b\n c", []) == "a b c"


def test_sections_parse_numpydoc_and_google_style():
    assert [s for s, _ in sections(NUMPY_DOC)] == ["parameters", "returns", "examples"]
    body = dict(sections(NUMPY_DOC))
    assert body["examples"].split() == [">>>", "np.sum([0.5,", "1.5])", "2.0"]
    assert "Elements to sum." in body["parameters"] and "----" not in body["parameters"]
    google = sections(GOOGLE_DOC)
    assert [s for s, _ in google] == ["parameters", "raises", "returns"]
    assert google[2][1].split() == ["The", "scaled", "output", "tensor."]


def test_docstring_records_know_what_they_document():
    tree = ast.parse('"""Mod doc."""\nclass A:\n    """Cls doc."""\n    def m(self):\n        """Meth doc."""\n'
                     'def f():\n    """Fn doc."""\n    def inner():\n        """Inner doc."""\n')
    recs = docstrings._records_of_tree(tree, "pkg.mod")
    assert [(r["kind"], r["name"], r["cls"]) for r in recs] == [
        ("module", "mod", ""), ("class", "A", ""), ("method", "m", "A"), ("function", "f", ""), ("function", "inner", "")]


@pytest.mark.parametrize("task,domain,names", [
    ("package", "stdlib", list(benchmark.DOCSTRING_PACKAGES)),
    ("kind", "stdlib", list(benchmark.KINDS)),
    ("kind", "scientific", list(benchmark.KINDS)),
    ("section", "scientific", list(benchmark.SECTIONS)),
])
def test_builtin_tasks_are_capped_distinct_deterministic_and_scrubbed(tmp_path, task, domain, names):
    texts, labels, got = builtin_task(task, domain, max_per_class=60, seed=3, cache_dir=tmp_path)
    assert got == names
    counts = np.bincount(labels, minlength=len(names))
    assert counts.max() == 60 and counts.min() >= 10 and len(set(texts)) == len(texts)
    again = builtin_task(task, domain, max_per_class=60, seed=3, cache_dir=tmp_path)
    assert again[0] == texts and np.array_equal(again[1], labels)
    assert builtin_task(task, domain, max_per_class=60, seed=4, cache_dir=tmp_path)[0] != texts
    # the label is not readable off the text: no label word (nor a path holding it) survives
    words = {"package": "|".join(names), "kind": benchmark._LABEL_WORDS["kind"],
             "section": benchmark._LABEL_WORDS["section"]}[task]
    hits = [t for t in texts if re.search(rf"(?<![\w.])[\w.]*(?:{words})", t, re.IGNORECASE)]
    assert not hits, hits[:3]


def test_bag_of_words_beats_chance_but_string_matching_does_not(tmp_path):
    """The kind task is learnable from the words, and not by looking for the label's name."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    dm = TextClassificationDataModule(task="kind", domain="stdlib", cache_dir=str(tmp_path))
    (xtr, ytr), (xte, yte) = dm.task()[0]["train"], dm.task()[0]["test"]
    acc = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)).fit(xtr, ytr).score(xte, yte)
    assert acc > 0.45  # chance: 0.25 (balanced 4 classes)
    match = [next((c for c, n in enumerate(dm.class_names) if n in t.lower()), -1) for t in xte]
    assert np.mean(np.asarray(match) == yte) < 0.05


def test_datamodule_options_splits_and_domain_names(tmp_path):
    dm = TextClassificationDataModule(task="section", domain="scientific", max_per_class=50, cache_dir=str(tmp_path))
    assert dm.num_classes == 5 and dm.shift == "scientific"
    parts, _ = dm.task()
    assert {k: len(v[1]) for k, v in parts.items()} == {"test": 50, "val": 50, "train": 150}  # 250 texts, 60/20/20
    assert all(np.bincount(y).tolist() == [len(y) // 5] * 5 for _, y in parts.values())  # stratified, balanced
    assert not set(parts["train"][0]) & set(parts["test"][0])
    with pytest.raises(ValueError, match="tasks: .*package.*domains: .*stdlib"):
        TextClassificationDataModule(task="topic")
    with pytest.raises(ValueError, match="domain:scientific"):
        TextPretrainDataModule(corpus="domain:physics")


def test_domain_and_installed_corpora(tmp_path):
    dm = TextPretrainDataModule(corpus="domain:scientific", cache_dir=str(tmp_path))
    docs = dm.documents()
    assert len(docs) > 1000 and len(set(docs)) == len(docs)
    everything = docstrings.installed_corpus(packages=("numpy",), cache_dir=tmp_path)
    assert set(docs) <= set(everything) and sum(map(len, everything)) > 3_000_000  # MBs: help topics, stdlib, numpy
