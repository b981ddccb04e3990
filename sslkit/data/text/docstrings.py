"""Docstrings of the installed Python: read from source files with :mod:`ast` (nothing is imported).

Every module, class, function and method docstring of a package is extracted
once, with what it documents (``kind``), its own name and its class, and cached
as JSON per interpreter, package and package version. These records feed the
built-in labelled tasks (:mod:`sslkit.data.text.benchmark`) and the unlabelled
pretraining corpus (:func:`installed_corpus`).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
import sysconfig
from pathlib import Path

from sslkit.data.text.sources import default_cache_dir, pydoc_topics

#: stdlib folders that hold tests, demos, IDE code or vendored copies rather than library docstrings
STDLIB_SKIP = frozenset({"test", "tests", "idlelib", "lib2to3", "turtledemo", "ensurepip", "site-packages",
                         "__pycache__", "tkinter", "pydoc_data"})
#: third-party packages whose docstrings join the unlabelled corpus when installed
CORPUS_PACKAGES = ("numpy", "scipy", "sklearn", "torch", "transformers", "lightning", "torchvision", "torchmetrics",
                   "timm", "peft", "matplotlib", "sympy", "networkx", "jsonargparse", "huggingface_hub", "umap")


def package_root(package: str) -> Path:
    """The source folder of an installed package (``"stdlib"``: CPython's library folder), found without importing it."""
    if package == "stdlib":
        return Path(sysconfig.get_paths()["stdlib"])
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"package {package!r} is not installed; pip install it or choose another domain")
    return Path(list(spec.submodule_search_locations)[0])


def _version(package: str) -> str:
    if package == "stdlib":
        return sys.version
    try:
        return importlib.metadata.version({"sklearn": "scikit-learn"}.get(package, package))
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _records_of_tree(tree: ast.AST, module: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []

    def visit(node: ast.AST, cls: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                kind, name = "class", child.name
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                kind, name = ("method" if isinstance(node, ast.ClassDef) else "function"), child.name
            else:
                visit(child, cls)
                continue
            doc = ast.get_docstring(child)
            if doc:
                out.append({"kind": kind, "name": name, "cls": cls, "module": module, "doc": doc})
            visit(child, child.name if kind == "class" else cls)

    doc = ast.get_docstring(tree)  # type: ignore[arg-type]
    if doc:
        out.append({"kind": "module", "name": module.rsplit(".", 1)[-1], "cls": "", "module": module, "doc": doc})
    visit(tree, "")
    return out


def package_docstrings(package: str, cache_dir: str | os.PathLike | None = None) -> list[dict[str, str]]:
    """All docstrings of an installed package (or ``"stdlib"``), test folders skipped, in file order.

    Returns:
        Records ``{"kind": module|class|function|method, "name", "cls" (enclosing class or ""),
        "module" (dotted path), "doc" (cleaned docstring)}``; cached per package version.
    """
    key = hashlib.sha256(repr((sys.version, package, _version(package), 1)).encode()).hexdigest()[:16]
    cached = Path(cache_dir or default_cache_dir()) / f"docstrings-{package}-{key}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    root = package_root(package)
    records: list[dict[str, str]] = []
    for f in sorted(root.rglob("*.py")):
        parts = f.relative_to(root).parts
        if any(p.startswith("test") or p in STDLIB_SKIP for p in parts[:-1]) or parts[-1].startswith("test"):
            continue
        module = ".".join(([] if package == "stdlib" else [package]) + [*parts[:-1], f.stem])
        try:
            tree = ast.parse(f.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue  # a few vendored or templated files are not valid Python 3.11
        records += _records_of_tree(tree, module.removesuffix(".__init__"))
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(records))
    os.replace(tmp, cached)
    return records


def installed_corpus(packages: tuple[str, ...] | None = None, min_words: int = 5,
                     cache_dir: str | os.PathLike | None = None) -> list[str]:
    """All unlabelled text the machine has: ``pydoc_data.topics`` plus every distinct docstring of the
    standard library and of the installed ``packages`` (default :data:`CORPUS_PACKAGES`, missing ones skipped).

    On CPython 3.11 with this project's dependencies: about 30 MB of English technical prose.
    """
    names = ("stdlib", *(packages if packages is not None else CORPUS_PACKAGES))
    seen: dict[str, None] = {t: None for t in pydoc_topics()}
    for p in names:
        if p != "stdlib" and importlib.util.find_spec(p) is None:
            continue
        for r in package_docstrings(p, cache_dir):
            if len(r["doc"].split()) >= min_words:
                seen.setdefault(r["doc"], None)
    return list(seen)
