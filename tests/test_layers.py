"""The import direction of STYLE.md, read from the source: no back arrows, no cycles between subpackages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "sslkit"

# subpackage -> subpackages it must never import (STYLE.md, "Proposed layout")
FORBIDDEN = {
    "losses": {"methods", "data", "callbacks", "transfer", "report", "cli", "metrics", "heads", "backbones"},
    "metrics": {"methods", "data", "callbacks", "transfer", "report", "cli"},
    "methods": {"data", "callbacks", "transfer", "report", "cli"},
    "data": {"methods", "callbacks", "transfer", "report", "cli"},
    "callbacks": {"transfer", "report", "cli"},
    "transfer": {"callbacks", "report", "cli"},
}


def import_graph() -> dict[str, set[str]]:
    """``{subpackage: {subpackages it imports}}`` from every ``sslkit.*`` import in sslkit/ (lazy ones included)."""
    graph: dict[str, set[str]] = {}
    for f in PKG.rglob("*.py"):
        parts = f.relative_to(PKG).with_suffix("").parts
        if parts == ("__init__",):
            continue
        src = parts[0]
        deps = graph.setdefault(src, set())
        for node in ast.walk(ast.parse(f.read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            deps.update(n.split(".")[1] for n in names if n.startswith("sslkit.") and n.split(".")[1] != src)
    return graph


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_back_arrows(package):
    bad = import_graph().get(package, set()) & FORBIDDEN[package]
    assert not bad, f"sslkit/{package} imports {sorted(bad)}, against the direction in STYLE.md"


def test_no_cycles():
    graph = import_graph()
    state: dict[str, int] = {}

    def visit(p: str, path: tuple[str, ...]) -> None:
        if state.get(p) == 1:
            raise AssertionError(f"import cycle: {' -> '.join(path + (p,))}")
        if state.get(p) == 2:
            return
        state[p] = 1
        for q in graph.get(p, ()):
            visit(q, path + (p,))
        state[p] = 2

    for p in graph:
        visit(p, ())
