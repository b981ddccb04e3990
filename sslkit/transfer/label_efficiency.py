"""Label-efficiency curves: accuracy vs. share of labels, for several backbones and strategies.

``sslkit label-efficiency --config recipes/transfer/digits/label_efficiency.yaml``
(or ``python -m sslkit.cli label-efficiency ...``) sweeps label fractions over
seeds with class-stratified, nested subsets and writes ``results.csv``,
``results.md`` (mean ± std over seeds) and ``label_efficiency.png`` to ``out_dir``.
"""

from __future__ import annotations

import csv
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np

from sslkit.transfer.runner import STRATEGIES, BackboneSource, FeatureCache, TrainSettings, check_backbones, run_strategy
from sslkit.utils.plotting import pyplot, save_figure


def label_efficiency(
    data: L.LightningDataModule,
    backbones: list[BackboneSource],
    strategies: list[str] = ("linear", "logistic"),  # type: ignore[assignment]
    fractions: list[float] = (0.01, 0.05, 0.1, 0.25, 1.0),  # type: ignore[assignment]
    seeds: list[int] = (0, 1, 2),  # type: ignore[assignment]
    settings: TrainSettings | None = None,
    out_dir: str = "runs/label-efficiency",
    wandb: Literal["offline", "online", "disabled"] | None = None,
) -> list[dict[str, Any]]:
    """Run the sweep and write its CSV, markdown table and plot.

    Args:
        data: labelled DataModule (``labelled_dataset`` + ``num_classes``), e.g. digits.
        backbones: the backbones to compare (e.g. an SSL checkpoint and random init).
        strategies: any of ``linear``, ``logistic``, ``linear_svm``, ``random_forest``,
            ``knn`` (cached features) and ``finetune``, ``partial``, ``layer_decay``, ``lora``.
        fractions: label fractions in ``(0, 1]``.
        seeds: seeds of the label subsets (and of training).
        settings: training settings of the strategies.
        out_dir: output folder.
        wandb: log the table and plot to a W&B run (default: ``WANDB_MODE`` or ``offline``).

    Returns:
        One row per (backbone, strategy, fraction, seed): ``acc`` on the test split.
    """
    bad = [s for s in strategies if s not in STRATEGIES]
    if bad:
        raise ValueError(f"unknown strategies {bad}; choose from {STRATEGIES}")
    check_backbones(backbones)
    settings = settings or TrainSettings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = FeatureCache("cuda" if settings.accelerator in ("gpu", "cuda") else "cpu")
    test = data.labelled_dataset("test")
    rows = []
    for source in backbones:
        for strategy in strategies:
            for fraction in sorted(fractions):
                for seed in seeds:
                    t0 = time.perf_counter()
                    acc = run_strategy(strategy, source, data, fraction, seed, {"test": test}, cache, settings)["test"]
                    n = len(data.labelled_dataset("train", fraction=fraction, seed=seed))
                    rows.append({"backbone": source.label, "strategy": strategy, "fraction": fraction, "seed": seed,
                                 "n_train": n, "acc": acc, "seconds": round(time.perf_counter() - t0, 2)})
                    print(f"[label-efficiency] {source.label:>12} {strategy:>12} {100 * fraction:5g}% seed {seed}: "
                          f"{100 * acc:.1f}%", flush=True)
    write_csv(rows, out / "results.csv")
    table = markdown_table(rows)
    (out / "results.md").write_text(table + "\n")
    plot(rows, out / "label_efficiency.png")
    log_to_wandb(out, table, wandb, rows=rows)
    print(table)
    return rows


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def summarise(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[float, tuple[float, float, int]]]:
    """``{(backbone, strategy): {fraction: (mean acc, std acc, n seeds)}}``."""
    acc: dict[tuple[str, str], dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        acc[(r["backbone"], r["strategy"])][float(r["fraction"])].append(float(r["acc"]))
    return {k: {f: (float(np.mean(v)), float(np.std(v)), len(v)) for f, v in sorted(d.items())} for k, d in acc.items()}


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Test accuracy (%) mean ± std over seeds: one row per (backbone, strategy), one column per fraction."""
    summary = summarise(rows)
    fractions = sorted({float(r["fraction"]) for r in rows})
    n_seeds = max(n for d in summary.values() for _, _, n in d.values())
    head = "| backbone | strategy | " + " | ".join(f"{100 * f:g}% labels" for f in fractions) + " |"
    lines = [f"Test accuracy (%), mean ± std over {n_seeds} seeds.", "", head,
             "|---|---|" + "---|" * len(fractions)]
    for (b, s), d in summary.items():
        cells = [f"{100 * d[f][0]:.1f} ± {100 * d[f][1]:.1f}" if f in d else "" for f in fractions]
        lines.append(f"| {b} | {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Accuracy vs. label fraction (log scale), one line with error bars per (backbone, strategy)."""
    fig, ax = pyplot().subplots(figsize=(6, 4))
    for (b, s), d in summarise(rows).items():
        f = list(d)
        ax.errorbar([100 * x for x in f], [100 * d[x][0] for x in f], yerr=[100 * d[x][1] for x in f], marker="o",
                    capsize=3, label=f"{b} / {s}")
    ax.set_xscale("log")
    ax.set_xlabel("labelled training images (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Label efficiency")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def log_to_wandb(out: Path, table: str, mode: str | None, name: str = "label_efficiency",
                 rows: list[dict[str, Any]] | None = None) -> None:
    """Log the PNGs and the markdown table of ``out`` to a W&B run: the active one, else a new one (offline by default).

    With ``rows``, they are logged too, as the sortable table ``<name>/results``.
    """
    mode = mode or os.environ.get("WANDB_MODE", "offline")
    if mode == "disabled":
        return
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb as wb

    own = wb.run is None
    run = wb.init(project="sslkit", name=name, dir=str(out), mode=mode) if own else wb.run
    items = {**{f"{name}/{p.stem}": wb.Image(str(p)) for p in out.glob("*.png")}, f"{name}/table": wb.Html(f"<pre>{table}</pre>")}
    if rows:
        items[f"{name}/results"] = wb.Table(columns=list(rows[0]), data=[list(r.values()) for r in rows])
    run.log(items)
    if own:
        run.finish()
