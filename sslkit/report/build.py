"""Build the report: tables of numbers from metrics.csv / summary.json, plots, and the HTML from a jinja2 template."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sslkit.report import plots
from sslkit.report.run import Run, load_run

PANELS = [("views", "Training views", "the first training batch after augmentation, one row per view (dashboard/views.png)"),
          ("embedding_map", "Embedding map", "validation embeddings in 2-D, coloured by label (dashboard/embedding_map/)"),
          ("retrieval", "Nearest-neighbour retrieval", "each row: a validation query, then its nearest training images "
           "by cosine similarity; green frame = same label, red = different (dashboard/retrieval/)"),
          ("preview", "Reconstructions / samples", "ImageGrid: originals then outputs, or samples (images/)")]


@dataclass
class Cell:
    """One table cell: the text shown, the exact number behind it and where the number comes from."""

    text: str
    value: float | None = None
    source: str = ""

    @property
    def data_value(self) -> str:
        return "" if self.value is None else repr(float(self.value))


def pct(v: float | None, source: str) -> Cell:
    return Cell("–" if v is None else f"{100 * v:.1f}%", v, source)


def num(v: float | None, source: str) -> Cell:
    return Cell("–" if v is None else f"{v:.4g}", v, source)


def integer(v: float | None, source: str) -> Cell:
    return Cell("–" if v is None else str(int(v)), v, source)


def _summary(run: Run, key: str) -> float | None:
    return None if not run.summary or key not in run.summary else float(run.summary[key])


def _gain(run: Run) -> Cell:
    ssl, init = _summary(run, "linear_acc_ssl"), _summary(run, "linear_acc_init")
    if ssl is None or init is None:
        return Cell("–")
    return Cell(f"{100 * (ssl - init):+.1f}", ssl - init, "summary.json: linear_acc_ssl - linear_acc_init")


#: The comparison table: header and cell of each column.
COLUMNS: list[tuple[str, Callable[[Run], Cell]]] = [
    ("run", lambda r: Cell(r.name)),
    ("method", lambda r: Cell(r.method)),
    ("backbone", lambda r: Cell(str(r.config_value("model", "init_args", "backbone") or "?"))),
    ("epochs", lambda r: integer(r.epochs, "metrics.csv: max epoch + 1")),
    ("train/loss", lambda r: num(r.final("train/loss"), "metrics.csv: last train/loss")),
    ("probe/linear_acc", lambda r: pct(r.final("probe/linear_acc"), "metrics.csv: last probe/linear_acc")),
    ("knn/acc", lambda r: pct(r.final("knn/acc"), "metrics.csv: last knn/acc")),
    ("collapse/std", lambda r: num(r.final("collapse/std"), "metrics.csv: last collapse/std")),
    ("collapse/rank", lambda r: num(r.final("collapse/rank"), "metrics.csv: last collapse/rank")),
    ("summary: SSL", lambda r: pct(_summary(r, "linear_acc_ssl"), "summary.json: linear_acc_ssl")),
    ("summary: init", lambda r: pct(_summary(r, "linear_acc_init"), "summary.json: linear_acc_init")),
    ("gain (points)", _gain),
]


def summary_rows(run: Run) -> list[tuple[str, Cell]]:
    """The per-run summary table (LinearEvalSummary's summary.json)."""
    if not run.summary:
        return []
    s = run.summary
    rows = [("label fraction", Cell(f"{100 * s['label_fraction']:g}%", s["label_fraction"], "summary.json: label_fraction"))
            if "label_fraction" in s else None,
            ("training images (labelled)", integer(s.get("n_train"), "summary.json: n_train")) if "n_train" in s else None,
            ("test images", integer(s.get("n_test"), "summary.json: n_test")) if "n_test" in s else None,
            ("self-supervised backbone", pct(_summary(run, "linear_acc_ssl"), "summary.json: linear_acc_ssl")),
            ("backbone at initialisation", pct(_summary(run, "linear_acc_init"), "summary.json: linear_acc_init")),
            ("gain from pretraining (points)", _gain(run))]
    return [r for r in rows if r is not None]


def sweep_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[Cell]]]:
    """Label-efficiency mean ± std over seeds: header and rows (one per backbone and strategy)."""
    from sslkit.transfer.label_efficiency import summarise

    summary = summarise(rows)
    fractions = sorted({float(r["fraction"]) for r in rows})
    head = ["backbone", "strategy"] + [f"{100 * f:g}% labels" for f in fractions]
    body = []
    for (b, s), d in summary.items():
        cells = [Cell(b), Cell(s)]
        for f in fractions:
            if f in d:
                mean, std, n = d[f]
                cells.append(Cell(f"{100 * mean:.1f} ± {100 * std:.1f}", mean, f"results.csv: mean acc over {n} seeds"))
            else:
                cells.append(Cell("–"))
        body.append(cells)
    return head, body


def context(runs: list[Run], title: str) -> dict[str, Any]:
    """Everything the template shows."""
    from importlib import metadata

    fit_runs = [r for r in runs if r.rows]
    groups = plots.curve_groups(fit_runs)
    return {
        "title": title,
        "generated": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "sslkit_version": metadata.version("sslkit") if _installed("sslkit") else "?",
        "runs": runs,
        "fit_runs": fit_runs,
        "columns": [h for h, _ in COLUMNS],
        "table": [[cell(r) for _, cell in COLUMNS] for r in fit_runs],
        "summary_plot": plots.summary_bars(fit_runs),
        "curves": [(t, plots.lr_curves(fit_runs, cols) if t == "Learning rate" else plots.curves(fit_runs, cols, t))
                   for t, cols in groups],
        "per_run": [{
            "run": r,
            "summary": summary_rows(r),
            "panels": [(title_, note, plots.file_uri(r.panels[key])) for key, title_, note in PANELS if key in r.panels],
            "sweeps": [{"path": s.path, "plot": plots.sweep_plot(s), "table": sweep_table(s.rows)}
                       for s in r.label_efficiency],
        } for r in runs],
    }


def _installed(name: str) -> bool:
    from importlib import metadata

    try:
        metadata.version(name)
        return True
    except metadata.PackageNotFoundError:
        return False


def render(runs: list[Run], title: str = "sslkit report") -> str:
    """The report's HTML (self-contained: CSS inline, plots as data URIs)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("sslkit.report", "templates"), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(**context(runs, title))


def write_report(run_dirs: list[str | Path], out: str | Path, title: str | None = None) -> Path:
    """Read ``run_dirs`` and write one self-contained HTML report to ``out``.

    Args:
        run_dirs: run directories (``sslkit fit``'s ``default_root_dir``) or label-efficiency ``out_dir``s.
        out: the HTML file to write.
        title: page title (default: the run names).

    Raises:
        ValueError: when a directory is not a run directory.
    """
    if not run_dirs:
        raise ValueError("sslkit report needs at least one run directory, e.g. sslkit report runs/digits-simclr")
    runs = [load_run(p) for p in run_dirs]
    names = [r.name for r in runs]
    if len(set(names)) < len(names):  # runs/a/x and runs/b/x: tell them apart
        for r in runs:
            r.name = f"{r.path.resolve().parent.name}/{r.name}"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(runs, title or "sslkit report: " + ", ".join(r.name for r in runs)))
    return out


def report_after_fit(root: Path) -> Path | None:
    """Write ``<root>/report.html`` at the end of ``sslkit fit``; never raises (warns instead).

    Without a metrics.csv (``--trainer.logger false``) there is nothing to plot and nothing is written.
    """
    try:
        from sslkit.report.run import metrics_files

        if not metrics_files(root):
            return None
        path = write_report([root], root / "report.html")
        print(f"sslkit: wrote {path}")
        return path
    except Exception as err:  # noqa: BLE001  (a report must never fail a finished run)
        warnings.warn(f"sslkit: report.html was not written ({type(err).__name__}: {err}); "
                      f"run `sslkit report {root}` to retry", stacklevel=2)
        return None
