"""Cross-domain evaluation: train on each source domain, score on every target domain.

``sslkit cross-domain --config recipes/transfer/digits/cross_domain.yaml`` writes
``matrix.csv`` and ``matrix.md`` (rows: source domain, columns: target domain,
test accuracy) for each backbone to ``out_dir``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import lightning as L

from sslkit.transfer.runner import BackboneSource, FeatureCache, TrainSettings, check_backbones, run_strategy


def domain_name(dm: Any, i: int) -> str:
    """A short name for a domain DataModule: its ``shift`` if any, else its class name and position."""
    return str(getattr(dm, "shift", None) or f"{type(dm).__name__}{i}")


def cross_domain(domains: list[L.LightningDataModule], backbones: list[BackboneSource], strategy: str = "linear",
                 label_fraction: float = 1.0, seed: int = 0, settings: TrainSettings | None = None,
                 out_dir: str = "runs/cross-domain") -> dict[str, dict[str, dict[str, float]]]:
    """Source-to-target accuracy matrices.

    Args:
        domains: labelled DataModules, one per domain (e.g. shifted digits), same classes.
        backbones: backbones to evaluate (one matrix each).
        strategy: transfer strategy trained on each source (see :mod:`sslkit.transfer.runner`).
        label_fraction: share of source training labels used.
        seed: seed of the label subset and training.
        settings: training settings.
        out_dir: output folder.

    Returns:
        ``{backbone: {source: {target: acc}}}``.
    """
    check_backbones(backbones)
    settings = settings or TrainSettings()
    names = [domain_name(d, i) for i, d in enumerate(domains)]
    if len(set(names)) != len(names):
        raise ValueError(f"domain names must be unique, got {names}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = FeatureCache("cuda" if settings.accelerator in ("gpu", "cuda") else "cpu")
    tests = {f"{n}/test": d.labelled_dataset("test") for n, d in zip(names, domains)}
    result: dict[str, dict[str, dict[str, float]]] = {}
    rows, blocks = [], []
    for source in backbones:
        matrix: dict[str, dict[str, float]] = {}
        for name, dm in zip(names, domains):
            accs = run_strategy(strategy, source, dm, label_fraction, seed, tests, cache, settings, domain=name)
            matrix[name] = {t.split("/")[0]: a for t, a in accs.items()}
            rows += [{"backbone": source.label, "strategy": strategy, "source": name, "target": t, "acc": a}
                     for t, a in matrix[name].items()]
            print(f"[cross-domain] {source.label} trained on {name}: "
                  + ", ".join(f"{t} {100 * a:.1f}%" for t, a in matrix[name].items()), flush=True)
        result[source.label] = matrix
        blocks.append(matrix_markdown(matrix, f"{source.label} / {strategy}"))
    with open(out / "matrix.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    text = "\n\n".join(blocks + [summary_markdown(rows)])
    (out / "matrix.md").write_text(text + "\n")
    print(text)
    return result


def summary_markdown(rows: list[dict[str, Any]]) -> str:
    """One line per backbone: mean in-domain (diagonal) and mean cross-domain (off-diagonal) accuracy in %."""
    lines = ["Mean accuracy (%) per backbone: in-domain = the diagonal, cross-domain = every source != target cell", "",
             "| backbone | in-domain | cross-domain |", "|---|---|---|"]
    for label in dict.fromkeys(r["backbone"] for r in rows):
        mine = [r for r in rows if r["backbone"] == label]
        diag = [float(r["acc"]) for r in mine if r["source"] == r["target"]]
        off = [float(r["acc"]) for r in mine if r["source"] != r["target"]]
        mean = lambda v: f"{100 * sum(v) / len(v):.1f}" if v else "–"  # noqa: E731
        lines.append(f"| {label} | {mean(diag)} | {mean(off)} |")
    return "\n".join(lines)


def matrix_markdown(matrix: dict[str, dict[str, float]], title: str) -> str:
    """A markdown source (rows) x target (columns) accuracy table in %."""
    targets = list(next(iter(matrix.values())))
    lines = [f"{title}: test accuracy (%), rows = trained on, columns = evaluated on", "",
             "| source \\ target | " + " | ".join(targets) + " |", "|---|" + "---|" * len(targets)]
    for s, row in matrix.items():
        lines.append(f"| {s} | " + " | ".join(f"**{100 * row[t]:.1f}**" if t == s else f"{100 * row[t]:.1f}"
                                                for t in targets) + " |")
    return "\n".join(lines)
