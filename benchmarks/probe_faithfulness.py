"""Is ``probe/linear_acc`` a faithful reading of the features? Online probe vs. the offline probe, per recipe.

For each digits recipe (``recipes/pretrain/digits/*.yaml`` by default) a short
fit runs in this process through the ``sslkit`` CLI, validating every epoch
(``check_val_every_n_epoch=1``; the rest of the recipe unchanged), with the recipe's
``LinearEvalSummary`` replaced by :class:`OfflineProbe`. At every validation
that callback reads the logged ``probe/linear_acc`` and ``knn/acc``, then
extracts the frozen features (``pl_module.embed``, eval mode) of the same
clean labelled training images the ``bank`` loader holds and of the ``val``
split, and scores :func:`sslkit.metrics.linear.linear_eval` (scikit-learn's
standardised logistic regression) on them: the offline probe of the same
weights. It also times one :func:`~sslkit.metrics.linear.fit_logistic` on
those bank features, the cost the online probe adds to a validation.

    OMP_NUM_THREADS=1 WANDB_MODE=disabled PYTHONPATH=. python benchmarks/probe_faithfulness.py \\
        --epochs 2 --out benchmarks/results/probe_faithfulness_cpu.md

Prints a markdown table (recipe, epoch, step, probe, offline, diff, kNN, fit
time) and writes it to ``--out``; exits 1 if any reading from ``--from-epoch``
on differs from the offline probe by more than ``--tolerance``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import yaml
from torch.utils.data import Subset

ROOT = Path(__file__).resolve().parents[1]


class OfflineProbe(L.Callback):
    """Records, at every validation, the online probe's reading next to the offline logistic regression's.

    Args:
        out: JSON file the rows are written to after each validation.
    """

    def __init__(self, out: str) -> None:
        self.out = Path(out)
        self.rows: list[dict[str, Any]] = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or "probe/linear_acc" not in trainer.callback_metrics:
            return
        from sslkit.metrics.linear import fit_logistic
        from sslkit.metrics.linear import linear_eval
        from sslkit.utils.features import extract_features

        dm = trainer.datamodule
        bank = dm.labelled_dataset("train")
        if len(bank) > dm.bank_size:  # the bank loader's cap, same subset
            keep = np.random.default_rng(dm.seed).choice(len(bank), dm.bank_size, replace=False)
            bank = Subset(bank, np.sort(keep).tolist())
        was_training = pl_module.training
        pl_module.eval()
        try:
            train = extract_features(pl_module.embed, bank, pl_module.device)
            val = extract_features(pl_module.embed, dm.labelled_dataset("val"), pl_module.device)
        finally:
            pl_module.train(was_training)
        start = time.perf_counter()
        fit_logistic(*train, int(pl_module.num_classes))
        fit_s = time.perf_counter() - start
        metrics = trainer.callback_metrics
        self.rows.append({"epoch": trainer.current_epoch + 1, "step": trainer.global_step,
                          "probe": float(metrics["probe/linear_acc"]), "offline": linear_eval(train, val),
                          "knn": float(metrics["knn/acc"]) if "knn/acc" in metrics else float("nan"),
                          "fit_s": fit_s, "bank": list(train[0].shape)})
        self.out.write_text(json.dumps(self.rows))


def run_recipe(recipe: Path, epochs: int, root: Path) -> list[dict[str, Any]]:
    """Fit ``recipe`` for ``epochs`` epochs with an :class:`OfflineProbe`; return its rows."""
    from sslkit.cli import main

    cfg = yaml.safe_load(recipe.read_text())
    callbacks = [c for c in cfg["trainer"].get("callbacks", []) if not c["class_path"].endswith("LinearEvalSummary")]
    out = root / f"{recipe.stem}.json"
    out.unlink(missing_ok=True)
    cfg["trainer"]["callbacks"] = callbacks + [{"class_path": "probe_faithfulness.OfflineProbe",
                                                "init_args": {"out": str(out)}}]
    path = root / f"{recipe.stem}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    # every epoch validates here, also for recipes that validate every 5 or 10 epochs
    main(["fit", "--config", str(path), f"--trainer.max_epochs={epochs}", "--trainer.check_val_every_n_epoch=1",
          f"--trainer.default_root_dir={root / recipe.stem}",
          "--wandb.mode=disabled", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"])
    return json.loads(out.read_text()) if out.exists() else []


def table(results: dict[str, list[dict[str, Any]]]) -> str:
    lines = ["| recipe | epoch | step | probe/linear_acc | offline logistic | diff (points) | knn/acc "
             "| probe fit (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, rows in results.items():
        if not rows:
            lines.append(f"| {name} | - | - | no reading | - | - | - | - |")
        for r in rows:
            lines.append(f"| {name} | {r['epoch']} | {r['step']} | {r['probe']:.3f} | {r['offline']:.3f} | "
                         f"{100 * (r['probe'] - r['offline']):+.1f} | {r['knn']:.3f} | {r['fit_s']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipes", nargs="*", help="recipe files (default: recipes/pretrain/digits/*.yaml)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--tolerance", type=float, default=0.05)
    parser.add_argument("--from-epoch", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--root", type=Path, default=None, help="run directory (default: a temporary one)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the CLI imports probe_faithfulness.OfflineProbe
    recipes = [Path(r) for r in args.recipes] or sorted((ROOT / "recipes/pretrain/digits").glob("*.yaml"))
    root = args.root or Path(tempfile.mkdtemp(prefix="probe_faithfulness_"))
    root.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict[str, Any]]] = {}
    worst = 0.0
    for recipe in recipes:
        start = time.perf_counter()
        results[recipe.stem] = run_recipe(recipe, args.epochs, root)
        for r in results[recipe.stem]:
            if r["epoch"] >= args.from_epoch:
                worst = max(worst, abs(r["probe"] - r["offline"]))
        print(f"[{recipe.stem}] {time.perf_counter() - start:.0f} s: {results[recipe.stem]}", flush=True)
    text = table(results)
    bad = worst > args.tolerance or any(not rows for rows in results.values())
    summary = (f"\n\nLargest |probe - offline| from epoch {args.from_epoch} on: {100 * worst:.1f} points "
               f"(tolerance {100 * args.tolerance:.0f}); {'FAIL' if bad else 'pass'}.")
    print(text + summary)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + summary + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
