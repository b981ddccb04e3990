"""`sslkit report` and the panels of a real (short) digits fit: files under the run dir, W&B offline media, the HTML."""

from __future__ import annotations

import base64
import csv
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from conftest import RECIPES, run_cli
from sslkit.report import build, load_run, plots, report_after_fit, write_report

SHORT = ["--trainer.max_epochs=2", "--trainer.limit_train_batches=2", "--trainer.log_every_n_steps=1",
         "--trainer.check_val_every_n_epoch=1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Two 2-epoch digits runs through the CLI: SimCLR (W&B offline) and the MLP autoencoder (reconstructions)."""
    root = tmp_path_factory.mktemp("runs")
    run_cli("fit", "--config", str(RECIPES / "pretrain/digits/simclr.yaml"), f"--trainer.default_root_dir={root / 'simclr'}",
            "--wandb.mode=offline", *SHORT)
    import wandb

    wandb.finish()  # flush the offline run's media
    run_cli("fit", "--config", str(RECIPES / "pretrain/digits/autoencoder.yaml"),
            f"--trainer.default_root_dir={root / 'autoencoder'}", "--wandb.mode=disabled", *SHORT)
    return {"simclr": root / "simclr", "autoencoder": root / "autoencoder"}


# ---------------------------------------------------------------------------------------------- parsing helpers
class Page(HTMLParser):
    """Every image, every URL-valued attribute and every table's cells of an HTML page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.tables: list[tuple[str, list[list[tuple[str, dict[str, str]]]]]] = []
        self._cell: dict[str, str] | None = None
        self._text = ""
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        for key in ("src", "href", "srcset", "data", "action"):
            if attrs.get(key) is not None:
                self.urls.append((tag, key, attrs[key]))
        if tag == "img":
            self.images.append(attrs)
        elif tag == "table":
            self.tables.append((attrs.get("class", ""), []))
        elif tag == "tr":
            self.tables[-1][1].append([])
        elif tag in ("td", "th"):
            self._cell, self._text = attrs, ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][1][-1].append((self._text.strip(), self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._text += data

    def table(self, cls: str) -> list[list[tuple[str, dict[str, str]]]]:
        found = [rows for c, rows in self.tables if c == cls]
        assert len(found) == 1, f"expected one table of class {cls}, found {len(found)}"
        return found[0]


def png_bytes(src: str) -> bytes:
    assert src.startswith("data:image/png;base64,"), f"not an embedded PNG: {src[:80]}"
    data = base64.b64decode(src.split(",", 1)[1], validate=True)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return data


def csv_columns(run: Path) -> dict[str, list[float]]:
    """Every non-empty value of every metrics.csv column, in file order (read independently of sslkit.report)."""
    (path,) = (run / "csv").glob("version_*/metrics.csv")
    out: dict[str, list[float]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for k, v in row.items():
                if v != "":
                    out.setdefault(k, []).append(float(v))
    return out


# ---------------------------------------------------------------------------------------------- the run directory
def test_a_short_fit_writes_every_panel_under_the_run_dir(runs):
    sim, ae = runs["simclr"], runs["autoencoder"]
    for run in (sim, ae):
        dash = run / "dashboard"
        assert (dash / "views.png").is_file()
        for panel in ("embedding_map", "retrieval"):
            assert sorted(p.name for p in (dash / panel).iterdir()) == ["1.csv", "1.png"], panel  # every 5: at fit end
        assert (run / "summary.json").is_file() and (run / "report.html").is_file()  # sslkit fit wrote its report
    with open(sim / "dashboard" / "embedding_map" / "1.csv") as f:
        assert len(list(csv.DictReader(f))) == 180  # the whole digits validation split (under max_points)
    assert sorted(p.name for p in (ae / "images").iterdir()) == ["0.png", "1.png"]  # ImageGrid: reconstructions
    assert not (sim / "images").exists()  # SimCLR makes no images


def test_the_offline_wandb_run_holds_the_panels(runs):
    (run,) = (runs["simclr"] / "wandb").glob("offline-run-*")
    media = run / "files" / "media"
    for key in ("views", "embedding_map", "retrieval"):
        assert list((media / "images" / "dash").glob(f"{key}_*.png")), key
    (table,) = (media / "table" / "dash").glob("embedding_points_*.table.json")
    data = json.loads(table.read_text())
    assert data["columns"] == ["x", "y", "label", "epoch"] and len(data["data"]) == 180
    assert b"dash/embedding_scatter" in next(run.glob("run-*.wandb")).read_bytes()  # the hoverable scatter


# ---------------------------------------------------------------------------------------------- the HTML
def test_report_embeds_every_plot_and_links_nothing(runs, tmp_path):
    out = write_report([runs["simclr"], runs["autoencoder"]], tmp_path / "report.html")
    page = Page(out.read_text())
    assert "script" not in page.tags and "link" not in page.tags and "iframe" not in page.tags
    for tag, key, value in page.urls:
        assert value.startswith(("data:", "#")), f"<{tag} {key}> points outside the file: {value[:80]}"
    alts = [img["alt"] for img in page.images]
    assert sorted(alts) == sorted(["summary: SSL vs initialisation", "Loss terms", "Learning rate",
                                   "Online evaluation: linear probe and kNN", "Collapse"]
                                  + ["Training views", "Embedding map", "Nearest-neighbour retrieval"] * 2
                                  + ["Reconstructions / samples"])
    for img in page.images:
        png_bytes(img["src"])
    panels = [img for img in page.images if img["alt"] == "Embedding map"]  # the files themselves, byte for byte
    assert png_bytes(panels[0]["src"]) == (runs["simclr"] / "dashboard/embedding_map/1.png").read_bytes()
    preview = next(img for img in page.images if img["alt"] == "Reconstructions / samples")
    assert png_bytes(preview["src"]) == (runs["autoencoder"] / "images/1.png").read_bytes()


def test_every_number_in_the_tables_matches_metrics_csv_and_summary_json(runs, tmp_path):
    out = write_report([runs["simclr"], runs["autoencoder"]], tmp_path / "report.html")
    page = Page(out.read_text())
    head, *rows = page.table("comparison")
    header = [text for text, _ in head]
    assert header[:3] == ["run", "method", "backbone"] and len(rows) == 2
    checked = 0
    for row in rows:
        cells = dict(zip(header, row))
        name = cells["run"][0]
        columns, summary = csv_columns(runs[name]), json.loads((runs[name] / "summary.json").read_text())
        assert cells["method"][0] == {"simclr": "SimCLR", "autoencoder": "Autoencoder"}[name]
        expected = {"epochs": (max(columns["epoch"]) + 1, str)}
        for col in ("train/loss", "collapse/std", "collapse/rank"):
            expected[col] = (columns[col][-1], lambda v: f"{v:.4g}")
        for col in ("probe/linear_acc", "knn/acc"):
            expected[col] = (columns[col][-1], lambda v: f"{100 * v:.1f}%")
        expected["summary: SSL"] = (summary["linear_acc_ssl"], lambda v: f"{100 * v:.1f}%")
        expected["summary: init"] = (summary["linear_acc_init"], lambda v: f"{100 * v:.1f}%")
        gain = summary["linear_acc_ssl"] - summary["linear_acc_init"]
        expected["gain (points)"] = (gain, lambda v: f"{100 * v:+.1f}")
        for col, (value, fmt) in expected.items():
            text, attrs = cells[col]
            assert float(attrs["data-value"]) == value, (name, col)
            assert text == (str(int(value)) if fmt is str else fmt(value)), (name, col, text)
            checked += 1
    assert checked == 2 * 9
    # the per-run summary tables: summary.json, number for number
    for table, name in zip([rows for c, rows in page.tables if c == "summary"], ["simclr", "autoencoder"]):
        summary = json.loads((runs[name] / "summary.json").read_text())
        cells = {label: (text, attrs) for (label, _), (text, attrs) in table}
        assert float(cells["self-supervised backbone"][1]["data-value"]) == summary["linear_acc_ssl"]
        assert cells["self-supervised backbone"][0] == f"{100 * summary['linear_acc_ssl']:.1f}%"
        assert float(cells["backbone at initialisation"][1]["data-value"]) == summary["linear_acc_init"]
        assert int(cells["test images"][0]) == summary["n_test"] and int(cells["training images (labelled)"][0]) == summary["n_train"]


def test_curves_of_several_runs_are_overlaid(runs, monkeypatch):
    figures = {}

    def keep(fig):
        figures[fig._suptitle.get_text() if fig._suptitle else ""] = fig
        return "data:image/png;base64,"

    monkeypatch.setattr(plots, "_save", keep)
    loaded = [load_run(runs["simclr"]), load_run(runs["autoencoder"])]
    build.context(loaded, "t")
    for title, column in [("Loss terms", "train/loss"), ("Online evaluation: linear probe and kNN", "knn/acc"),
                          ("Collapse", "collapse/rank")]:
        ax = next(a for a in figures[title].axes if a.get_title() == column)
        lines = ax.get_lines()
        assert len(lines) == 2 and [line.get_label() for line in lines] == ["simclr", "autoencoder"]
        for line, name in zip(lines, ["simclr", "autoencoder"]):
            assert list(line.get_ydata()) == csv_columns(runs[name])[column]  # every logged value, in order
    (ax,) = next(f for t, f in figures.items() if t.startswith("Learning rate")).axes  # one plot, pg2 == pg1 drawn once
    assert [line.get_label() for line in ax.get_lines()] == ["simclr: lr-AdamW/pg1", "autoencoder: lr-Adam/pg1"]
    assert list(ax.get_lines()[1].get_ydata()) == csv_columns(runs["autoencoder"])["lr-Adam/pg1"]


def test_label_efficiency_sweep_in_a_run_dir_is_included(runs, tmp_path):
    from sslkit.transfer.label_efficiency import plot, write_csv

    run = tmp_path / "simclr"
    shutil.copytree(runs["simclr"], run)
    rows = [{"backbone": b, "strategy": "logistic", "fraction": f, "seed": s, "n_train": 10, "acc": acc, "seconds": 0.1}
            for b, base in (("ssl", 0.8), ("random", 0.5)) for f in (0.1, 1.0) for s, acc in ((0, base + f / 10), (1, base + f / 5))]
    sweep = run / "label-efficiency"
    sweep.mkdir()
    write_csv(rows, sweep / "results.csv")
    plot(rows, sweep / "label_efficiency.png")
    page = Page(write_report([run], tmp_path / "r.html").read_text())
    img = next(i for i in page.images if i["alt"] == "label efficiency")
    assert png_bytes(img["src"]) == (sweep / "label_efficiency.png").read_bytes()
    head, *body = page.table("sweep")
    assert [t for t, _ in head] == ["backbone", "strategy", "10% labels", "100% labels"]
    for row in body:
        b = row[0][0]
        for (text, attrs), f in zip(row[2:], (0.1, 1.0)):
            accs = [r["acc"] for r in rows if r["backbone"] == b and r["fraction"] == f]
            assert float(attrs["data-value"]) == pytest.approx(np.mean(accs), abs=1e-12)
            assert text == f"{100 * np.mean(accs):.1f} ± {100 * np.std(accs):.1f}"


# ---------------------------------------------------------------------------------------------- the command
def test_sslkit_report_command(runs, tmp_path, capsys):
    from sslkit.cli import main

    out = tmp_path / "both.html"
    main(["report", str(runs["simclr"]), str(runs["autoencoder"]), "--out", str(out)])  # returns: exit status 0
    assert capsys.readouterr().out.strip() == f"wrote {out}" and out.stat().st_size > 10_000
    (tmp_path / "empty").mkdir()
    for bad in (tmp_path / "empty", tmp_path / "missing"):
        with pytest.raises(SystemExit) as err:
            main(["report", str(runs["simclr"]), str(bad)])
        assert err.value.code == 2
        message = capsys.readouterr().err
        assert message.count("\n") == 1 and message.startswith(f"sslkit: error: {bad} is not a")
        assert "--trainer.default_root_dir" in message


def test_the_end_of_fit_report_only_warns_on_failure(runs, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(build, "write_report", broken)
    with pytest.warns(UserWarning, match="report.html was not written .*disk full"):
        assert report_after_fit(runs["simclr"]) is None
    assert report_after_fit(tmp_path) is None  # no metrics.csv (--trainer.logger false): nothing to report


def test_dashboard_and_report_can_be_turned_off(tmp_path):
    from sslkit.callbacks import EmbeddingMap, RetrievalGrid, ViewsGrid
    from sslkit.cli import SSLKitCLI

    def callbacks(*extra):
        cli = SSLKitCLI(args=["--config", str(RECIPES / "pretrain/digits/simclr.yaml"), "--wandb.mode=disabled",
                              f"--trainer.default_root_dir={tmp_path}", *extra], run=False)
        return {type(c) for c in cli.trainer.callbacks}, cli.config["report"]

    on, report = callbacks()
    assert {ViewsGrid, EmbeddingMap, RetrievalGrid} <= on and report is True
    off, report = callbacks("--dashboard=false", "--report=false")
    assert not {ViewsGrid, EmbeddingMap, RetrievalGrid} & off and report is False
