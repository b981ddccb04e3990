"""End-of-pretraining transfer summary: SSL backbone vs. random init with few labels."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import lightning as L
import torch

from sslkit.data.contracts import LabelledData, check_labelled
from sslkit.data.subsets import check_fraction
from sslkit.metrics.linear import extract_features, linear_eval


class LinearEvalSummary(L.Callback):
    """After pretraining, compare the trained method's features with those of a freshly built one.

    Both are frozen; a logistic regression is fitted on features of a
    class-stratified ``label_fraction`` of the training labels and scored on the
    test split. The result is printed, logged to every logger as
    ``summary/linear_acc_ssl`` and ``summary/linear_acc_init``, and written to
    ``summary.json`` in the trainer's ``default_root_dir``. Only rank 0 runs it.

    Args:
        label_fraction: share of training labels the classifier may use.
        seed: seed of the label subset and of the fresh backbone; ``None`` (default) takes the run's
            ``seed_everything`` (0 when the run is not seeded), so runs with different seeds also draw
            different label subsets and initialisations and ``sslkit compare``'s spread covers both.
        compare_init: also evaluate the method built afresh from its hyperparameters
            (:meth:`~sslkit.methods.SSLMethod.initial_copy`: random init, or the starting
            weights for continued pretraining), read by the same ``embed``.
    """

    def __init__(self, label_fraction: float = 0.1, seed: int | None = None, compare_init: bool = True) -> None:
        check_fraction(label_fraction)
        self.label_fraction, self.seed, self.compare_init = label_fraction, seed, compare_init
        self.results: dict[str, Any] = {}

    def evaluate(self, pl_module: L.LightningModule, datamodule: LabelledData) -> dict[str, Any]:
        check_labelled(datamodule, "LinearEvalSummary", needs=("labelled_dataset",))
        seed = self.run_seed()
        train_ds = datamodule.labelled_dataset("train", fraction=self.label_fraction, seed=seed)
        test_ds = datamodule.labelled_dataset("test")
        out: dict[str, Any] = {"label_fraction": self.label_fraction, "seed": seed, "n_train": len(train_ds),
                               "n_test": len(test_ds)}
        was_training = pl_module.training
        pl_module.eval()
        try:
            score = lambda m: linear_eval(extract_features(m.embed, train_ds, pl_module.device),  # noqa: E731
                                          extract_features(m.embed, test_ds, pl_module.device))
            out["linear_acc_ssl"] = score(pl_module)
            if self.compare_init:
                torch.manual_seed(seed)
                out["linear_acc_init"] = score(pl_module.initial_copy().to(pl_module.device).eval())
        finally:
            pl_module.train(was_training)
        return out

    def run_seed(self) -> int:
        """``seed`` if given, else the seed ``seed_everything`` put in ``PL_GLOBAL_SEED`` (0 when unseeded)."""
        return self.seed if self.seed is not None else int(os.environ.get("PL_GLOBAL_SEED", 0))

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.datamodule is None:
            return
        self.results = self.evaluate(pl_module, trainer.datamodule)
        metrics = {f"summary/{k}": v for k, v in self.results.items() if k.startswith("linear_acc")}
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
            logger.save()
        path = Path(trainer.default_root_dir) / "summary.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.results, indent=2))
        print(self.format(self.results))

    @staticmethod
    def format(r: dict[str, Any]) -> str:
        pct = f"{100 * r['label_fraction']:g}%"
        lines = [
            "",
            f"sslkit summary: frozen backbone + logistic regression on {pct} of the training labels "
            f"({r['n_train']} images), scored on the test split ({r['n_test']} images)",
            f"  self-supervised backbone : {100 * r['linear_acc_ssl']:.1f}%",
        ]
        if "linear_acc_init" in r:
            lines.append(f"  backbone at initialisation: {100 * r['linear_acc_init']:.1f}%")
            lines.append(f"  gain from pretraining     : {100 * (r['linear_acc_ssl'] - r['linear_acc_init']):+.1f} points")
        return "\n".join(lines)
