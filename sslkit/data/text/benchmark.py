"""The built-in offline text benchmark: labelled tasks and domains built from installed docstrings.

Three tasks with different label sets, each readable in several domains that
share its label set (so a classifier trained on one domain can be scored on
another with ``sslkit cross-domain``):

* ``package``: which package a docstring comes from (label set = the domain's packages;
  ``stdlib``: the 8 packages of :data:`DOCSTRING_PACKAGES`).
* ``kind``: what the docstring documents: ``class``, ``function``, ``method`` or ``module``.
* ``section``: which docstring section a paragraph is the body of (header removed):
  ``examples``, ``notes``, ``parameters``, ``raises``, ``returns`` (numpydoc or Google style).

Domains (:data:`DOMAINS`): ``stdlib`` (CPython's library), ``scientific`` (numpy,
scipy, scikit-learn) and ``deep_learning`` (torch, transformers, lightning).

Labels are not readable off the text: every text is scrubbed of its label words
(the package names and dotted paths containing them; ``class``/``function``/
``method``/``module``; the section names) and of the documented object's own
and class name. Each class keeps at most ``max_per_class`` distinct texts, drawn
with ``seed``; the train/val/test split is done by the DataModule.
"""

from __future__ import annotations

import os
import re

import numpy as np

from sslkit.data.text.docstrings import package_docstrings

#: the labels of the default task: standard-library packages whose docstrings are classified
DOCSTRING_PACKAGES = ("asyncio", "email", "http", "importlib", "logging", "multiprocessing", "unittest", "xml")
DOMAINS: dict[str, tuple[str, ...]] = {
    "stdlib": ("stdlib",),
    "scientific": ("numpy", "scipy", "sklearn"),
    "deep_learning": ("torch", "transformers", "lightning"),
}
TASKS = ("package", "kind", "section")
KINDS = ("class", "function", "method", "module")
SECTIONS = ("examples", "notes", "parameters", "raises", "returns")
_HEADERS = {"parameters": "parameters", "params": "parameters", "args": "parameters", "arguments": "parameters",
            "keyword arguments": "parameters", "other parameters": "parameters", "returns": "returns",
            "return": "returns", "yields": "returns", "examples": "examples", "example": "examples",
            "notes": "notes", "note": "notes", "raises": "raises", "see also": None, "references": None,
            "attributes": None, "methods": None, "warns": None, "warnings": None, "warning": None, "todo": None}
_GOOGLE = re.compile(r"^\s*(" + "|".join(_HEADERS) + r")\s*::?\s*$", re.IGNORECASE)
_UNDERLINE = re.compile(r"^\s*-{3,}\s*$")
_LABEL_WORDS = {"kind": r"(sub)?(class|function|method|module)(es|s)?|classmethod|staticmethod",
                "section": "|".join(sorted(_HEADERS, key=len, reverse=True))}


def scrub(text: str, words: list[str]) -> str:
    """``text`` with every whole-word (or dotted-path) match of the regexes ``words`` removed, whitespace collapsed."""
    for w in words:
        text = re.sub(rf"(?<![\w.])[\w.]*(?:{w})[\w.]*(?![\w])", " ", text, flags=re.IGNORECASE) if w else text
    return " ".join(text.split())


def sections(doc: str) -> list[tuple[str, str]]:
    """``(section, body)`` pairs of a numpydoc (``Header`` + ``-----``) or Google (``Header:``) docstring."""
    lines, out, current, body = doc.splitlines(), [], None, []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        numpy_header = i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1]) and line.lower() in _HEADERS
        google = _GOOGLE.match(lines[i])
        if numpy_header or google:
            if current:
                out.append((current, "\n".join(body)))
            current, body = _HEADERS[line.lower().rstrip(":").strip()], []
            i += 2 if numpy_header else 1
            continue
        body.append(lines[i])
        i += 1
    if current:
        out.append((current, "\n".join(body)))
    return out


def _examples(task: str, domain: str, min_words: int, cache_dir) -> tuple[list[str], list[str], tuple[str, ...]]:
    """Unbalanced ``(texts, labels, class_names)`` of a task in a domain, scrubbed."""
    packages = DOMAINS[domain]
    texts, labels = [], []
    if task == "package":
        names = DOCSTRING_PACKAGES if domain == "stdlib" else packages
        for r in (r for p in packages for r in package_docstrings(p, cache_dir)):
            top = r["module"].split(".")[0]
            if top in names:
                texts.append(scrub(r["doc"], [re.escape(n) for n in names]))
                labels.append(top)
        return texts, labels, names
    for r in (r for p in packages for r in package_docstrings(p, cache_dir)):
        own = [re.escape(n) for n in (r["name"], r["cls"], r["module"].rsplit(".", 1)[-1]) if len(n) > 2]
        if task == "kind":
            if domain == "stdlib" and r["module"].split(".")[0] not in DOCSTRING_PACKAGES and r["kind"] != "module":
                continue  # stdlib functions/methods: from the 8 task packages, modules: all (there are fewer)
            texts.append(scrub(r["doc"], [_LABEL_WORDS["kind"], *own]))
            labels.append(r["kind"])
        else:
            for section, body in sections(r["doc"]):
                if section:
                    texts.append(scrub(body, [_LABEL_WORDS["section"], *own]))
                    labels.append(section)
    return texts, labels, KINDS if task == "kind" else SECTIONS


def builtin_task(task: str = "package", domain: str = "stdlib", max_per_class: int = 200, min_words: int = 5,
                 seed: int = 0, cache_dir: str | os.PathLike | None = None) -> tuple[list[str], np.ndarray, list[str]]:
    """A built-in labelled text task: distinct scrubbed texts, at most ``max_per_class`` per class (seeded draw).

    Args:
        task: ``package``, ``kind`` or ``section``.
        domain: ``stdlib``, ``scientific`` or ``deep_learning``.
        max_per_class: cap per class (classes with fewer texts keep all of them).
        min_words: texts shorter than this (after scrubbing) are dropped.
        seed: seed of the per-class draw.
        cache_dir: docstring cache folder.

    Returns:
        ``(texts, labels, class_names)``, texts grouped by class, in source order within a class.
    """
    if task not in TASKS:
        raise ValueError(f"unknown text task {task!r}; choose one of {TASKS}")
    if domain not in DOMAINS:
        raise ValueError(f"unknown text domain {domain!r}; choose one of {tuple(DOMAINS)}")
    raw, raw_labels, names = _examples(task, domain, min_words, cache_dir)
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    labels: list[int] = []
    for c, name in enumerate(names):
        found = list(dict.fromkeys(t for t, y in zip(raw, raw_labels) if y == name and len(t.split()) >= min_words))
        if len(found) < 10:
            raise ValueError(f"text task {task!r} in domain {domain!r} has only {len(found)} texts of class {name!r}")
        keep = np.sort(rng.permutation(len(found))[:max_per_class])
        texts += [found[i] for i in keep]
        labels += [c] * len(keep)
    return texts, np.asarray(labels, dtype=np.int64), list(names)


def stdlib_docstrings(packages: tuple[str, ...] = DOCSTRING_PACKAGES, max_per_class: int = 200, min_words: int = 5,
                      seed: int = 0, cache_dir: str | os.PathLike | None = None) -> tuple[list[str], np.ndarray, list[str]]:
    """The default task: standard-library docstrings labelled by package (``builtin_task("package", "stdlib")``)."""
    if tuple(packages) != DOCSTRING_PACKAGES:
        raise ValueError(f"the built-in package task uses {DOCSTRING_PACKAGES}; use a labelled file for others")
    return builtin_task("package", "stdlib", max_per_class, min_words, seed, cache_dir)
