"""report.html of a text run: the MLM curves, the comparison row and the summary come from the run's own files."""

from __future__ import annotations

import json

from conftest import RECIPES, run_cli
from report.test_report import Page, csv_columns, png_bytes
from sslkit.report import load_run, plots, write_report


def test_a_text_mlm_run_reports_its_curves_and_summary(tmp_path):
    run_dir = tmp_path / "mlm"
    run_cli("fit", "--config", str(RECIPES / "pretrain/text/mlm_scratch.yaml"), f"--trainer.default_root_dir={run_dir}",
            "--trainer.max_epochs=2", "--trainer.limit_train_batches=3", "--trainer.limit_val_batches=2",
            "--trainer.val_check_interval=1.0", "--trainer.log_every_n_steps=1", "--wandb.mode=disabled")
    run = load_run(run_dir)
    assert run.method == "MaskedLM"
    grouped = [c for _, cols in plots.curve_groups([run]) for c in cols]
    assert {"train/loss", "val/mlm_loss", "val/masked_acc", "val/perplexity", "knn/acc"} <= set(grouped), grouped

    out = write_report([run_dir], tmp_path / "report.html")
    page = Page(out.read_text())
    assert page.images and all(png_bytes(img["src"]) for img in page.images)  # every plot embedded
    head, row = page.table("comparison")
    cells = dict(zip([text for text, _ in head], row))
    columns, summary = csv_columns(run_dir), json.loads((run_dir / "summary.json").read_text())
    assert cells["method"][0] == "MaskedLM" and cells["backbone"][0] == "bert" and cells["epochs"][0] == "2"
    assert float(cells["knn/acc"][1]["data-value"]) == columns["knn/acc"][-1]
    assert float(cells["summary: SSL"][1]["data-value"]) == summary["linear_acc_ssl"]
    assert float(cells["summary: init"][1]["data-value"]) == summary["linear_acc_init"]
    assert cells["gain (points)"][0] == f"{100 * (summary['linear_acc_ssl'] - summary['linear_acc_init']):+.1f}"
